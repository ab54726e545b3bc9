"""The numbers behind the charts: succeeded runs, seeds aggregated per setting with 95% intervals,
the comparison against full fine-tuning, verdicts, the Pareto frontier, learning-curve points and
the published reference points. DataFrames in, DataFrames out; no figures."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd

from ftlab.charts.settings import FLAT, GROUP, QUIET_FIELDS, _labels, _variants, budget_of, flat_configs
from ftlab.charts.style import FRACTION_METRICS, _metric_name
from ftlab.stats import t_quantile
from ftlab.tasks import primary_metric

# Per-run resource columns that aggregate_seeds averages (with their std) for the bar charts.
RESOURCE_COLUMNS = ["train_samples_per_s", "train_tokens_per_s", "eval_samples_per_s",
                    "peak_memory_mb", "wall_s", "time_to_first_step_s"]

PUBLISHED_REFERENCES = pd.DataFrame({
    "method": ["full", "lora", "bitfit"],
    "trainable_params": [125_000_000, 300_000, 100_000],
    "score": [0.948, 0.951, 0.937],  # fractions, like ftlab's accuracy
    "source": ["Hu et al. 2021, RoBERTa-base SST-2"] * 3,
    "dataset": ["glue/sst2"] * 3,
})



def _succeeded(runs: pd.DataFrame | None) -> pd.DataFrame:
    if runs is None or len(runs) == 0:
        return pd.DataFrame()
    if "status" in runs:
        runs = runs[runs["status"] == "succeeded"]
    if FLAT in runs or "config" in runs:  # a tuning study's search runs: the study's tuned re-runs stand for them
        runs = runs[[f.get("tag") != "trial" for f in flat_configs(runs)]]
    return runs


def _num(series: pd.Series) -> pd.Series:
    # runs_df gives nullable ints (pd.NA) for BIGINT columns; plotly and numpy want floats.
    return pd.to_numeric(series, errors="coerce").astype(float)



def baseline_methods() -> set[str]:
    """The registered methods that train nothing (majority class, zero-shot): reference lines, not points."""
    from ftlab import methods

    return {m.name for m in methods.list_methods() if not m.trains}


def _without_baselines(agg: pd.DataFrame) -> pd.DataFrame:
    return agg[~agg["method"].isin(baseline_methods())].reset_index(drop=True)



def score_metric(runs: pd.DataFrame | None) -> str:
    """The headline score of these runs: their task's primary metric ("entity_f1" when they are all
    NER), else accuracy (ftlab.tasks.primary_metric)."""
    if runs is None or len(runs) == 0 or "task" not in runs:
        return primary_metric(())
    return primary_metric(set(runs["task"].dropna()))


# aggregate_seeds' results for the last few frames it was given (the frame object itself, held so
# its id cannot be reused, and the metric): one Compare refresh draws several charts from one frame.
_MEMO: list[tuple[pd.DataFrame, str | None, pd.DataFrame]] = []
_MEMO_SIZE = 4


def aggregate_seeds(runs: pd.DataFrame | None, metric: str | None = None) -> pd.DataFrame:
    """One row per (model, dataset, budget, method, variant) over succeeded runs, sorted by trainable
    params. Runs whose configs differ only by seed are one variant; a method run with other
    settings too gets a row per setting, named in `variant`; `budget` is the setting's max_train
    (NaN: all the training set), what makes groups comparable (settings.GROUP).

    Columns: model, dataset, budget, method, variant, metric, n (runs with a score), n_runs, mean, std
    (sample, ddof=1), ci95 (t-based half-width: mean +- ci95 is the 95% confidence interval; NaN for
    n = 1), trainable_params (mean), every RESOURCE_COLUMNS mean and its `<col>_std`,
    memory_kind (distinct kinds joined by ", "), run_ids, seeds, scores (each run's score).
    Frames are not copied: the result for the same frame object and metric is computed once.
    """
    for frame, m, result in _MEMO:
        if frame is runs and m == metric:
            return result
    result = _aggregate_seeds(runs, metric)
    if runs is not None:
        _MEMO.insert(0, (runs, metric, result))
        del _MEMO[_MEMO_SIZE:]
    return result


def _aggregate_seeds(runs: pd.DataFrame | None, metric: str | None) -> pd.DataFrame:
    keys = ["model", "dataset", "method"]
    runs = _succeeded(runs)
    metric = metric or score_metric(runs)
    stat_cols = ["mean", "std", "n", "ci95"]
    res_cols = [c for col in RESOURCE_COLUMNS for c in (col, f"{col}_std")]
    columns = keys[:2] + ["budget", "method", "variant", "metric", "n_runs"] + stat_cols + ["trainable_params"] + \
        res_cols + ["memory_kind", "run_ids", "seeds", "scores"]
    if len(runs) == 0:
        return pd.DataFrame(columns=columns)
    variant, variant_names = _variants(runs)
    budgets = [budget_of(f) for f in flat_configs(runs)]
    nan = pd.Series(math.nan, index=runs.index)
    # One frame of plain floats, converted once; the groups are aggregated by pandas, not per group.
    frame = pd.DataFrame({
        # dropna=False below: a run with no recorded model/dataset still belongs somewhere.
        **{k: (runs[k] if k in runs else None) for k in keys}, "_variant": variant.values,
        "_budget": pd.Series(budgets, index=runs.index).fillna(-1.0),
        "_score": _num(runs[metric]) if metric in runs else nan,
        "trainable_params": _num(runs["trainable_params"]) if "trainable_params" in runs else nan,
        **{c: (_num(runs[c]) if c in runs else nan) for c in RESOURCE_COLUMNS},
    }, index=runs.index)
    groups = frame.groupby(keys + ["_budget", "_variant"], dropna=False, sort=False)
    stats = groups[["_score", "trainable_params", *RESOURCE_COLUMNS]].agg(["mean", "std", "count"])
    col = {c: stats[c].to_numpy() for c in stats.columns}  # group g's statistics are row g (sort=False)
    codes = groups.ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(stats) + 1))
    ids = runs["id"].to_numpy() if "id" in runs else None
    seeds = _num(runs["seed"]).to_numpy() if "seed" in runs else None
    kinds = runs["memory_kind"].to_numpy() if "memory_kind" in runs else None
    scores = frame["_score"].to_numpy()
    rows = []
    for g, (model, dataset, method, budget, variant_key) in enumerate(stats.index):
        idx = order[bounds[g]:bounds[g + 1]]
        n = int(col[("_score", "count")][g])
        std = float(col[("_score", "std")][g]) if n > 1 else math.nan
        row = {"model": model, "dataset": dataset, "budget": math.nan if budget == -1.0 else budget, "method": method,
               "variant": variant_names.get(variant_key, ""), "metric": metric, "n_runs": len(idx),
               "n": n, "mean": float(col[("_score", "mean")][g]) if n else math.nan, "std": std,
               "ci95": t_quantile(n - 1) * std / math.sqrt(n) if n > 1 else math.nan,
               "trainable_params": float(col[("trainable_params", "mean")][g])}
        for c in RESOURCE_COLUMNS:
            row[c] = float(col[(c, "mean")][g])
            row[f"{c}_std"] = float(col[(c, "std")][g]) if col[(c, "count")][g] > 1 else math.nan
        row["memory_kind"] = (", ".join(sorted({k for k in kinds[idx] if isinstance(k, str)})) or None) \
            if kinds is not None else None
        row["run_ids"] = [int(i) for i in ids[idx]] if ids is not None else []
        row["seeds"] = [int(x) for x in seeds[idx] if x == x] if seeds is not None else []
        row["scores"] = [float(x) for x in scores[idx] if x == x]
        rows.append(row)
    agg = pd.DataFrame(rows, columns=columns)
    return agg.sort_values(["model", "dataset", "budget", "trainable_params", "method", "variant"],
                           na_position="last").reset_index(drop=True)


def versus_full(runs: pd.DataFrame | None, metric: str | None = None) -> pd.DataFrame:
    """What each method gives up and saves against full fine-tuning of the same model, dataset and
    training budget (one comparable group, settings.GROUP), seed-averaged: one row per other method
    (variant), for groups that have a succeeded full fine-tuning run; `groups_without_full` names
    the others. A run on 64 examples is never set against full fine-tuning on 2,000.

    Columns: model, dataset, budget, method, variant, n (seeds), score, score_delta (method - full, in
    the metric's units: accuracy 0.01 = 1 point), trainable_params, params_ratio (method / full),
    wall_s, time_saved (1 - method / full wall time; negative when slower)."""
    columns = ["model", "dataset", "budget", "method", "variant", "n", "score", "score_delta", "trainable_params",
               "params_ratio", "wall_s", "time_saved"]
    agg = _without_baselines(aggregate_seeds(runs, metric))
    rows = []
    for _, group in agg.groupby(GROUP, dropna=False, sort=False):
        full = group[(group["method"] == "full") & (group["variant"] == "")]
        full = full if len(full) else group[group["method"] == "full"].head(1)
        if full.empty:
            continue
        f = full.iloc[0]
        for _, r in group.drop(full.index).iterrows():
            rows.append({"model": r["model"], "dataset": r["dataset"], "budget": r["budget"], "method": r["method"],
                         "variant": r["variant"],
                         "n": r["n"], "score": r["mean"], "score_delta": r["mean"] - f["mean"],
                         "trainable_params": r["trainable_params"],
                         "params_ratio": r["trainable_params"] / f["trainable_params"] if f["trainable_params"] else math.nan,
                         "wall_s": r["wall_s"],
                         "time_saved": 1 - r["wall_s"] / f["wall_s"] if f["wall_s"] else math.nan})
    return pd.DataFrame(rows, columns=columns)


def groups_without_full(runs: pd.DataFrame | None, metric: str | None = None) -> list[tuple]:
    """The comparable groups (model, dataset, budget) with trained methods but no succeeded full
    fine-tuning run: nothing there to set the others against."""
    agg = _without_baselines(aggregate_seeds(runs, metric))
    return [key for key, group in agg.groupby(GROUP, dropna=False, sort=False) if not (group["method"] == "full").any()]


def verdicts(runs: pd.DataFrame | None, metric: str | None = None) -> list[dict]:
    """Which gaps are more than seed noise: per comparable group (model, dataset, budget), every
    setting with 2 or more seeds against full fine-tuning (its default variant, else its first), or
    against the best setting where no full run has 2 seeds. Settings are aggregate_seeds' variants,
    so runs of different budgets are never pooled or compared. Each item: model, dataset, budget,
    a, b (labels), text, and the stats.Difference."""
    from ftlab import stats

    agg = _without_baselines(aggregate_seeds(runs, metric))
    agg = agg[agg["n"] >= 2]
    if agg.empty:
        return []
    metric = agg["metric"].iloc[0]
    scale, unit = (100.0, None) if metric in FRACTION_METRICS else (1.0, _metric_name(metric))
    agg = agg.assign(label=_labels(agg))
    out = []
    for (model, dataset, budget), group in agg.groupby(GROUP, dropna=False, sort=False):
        full = group[group["method"] == "full"]
        ref = (full.sort_values("variant") if len(full) else group.sort_values("mean", ascending=False)).iloc[0]
        for _, r in group.iterrows():
            if r["label"] == ref["label"]:
                continue
            d = stats.difference(r["scores"], ref["scores"])
            out.append({"model": model, "dataset": dataset, "budget": budget, "a": r["label"], "b": ref["label"],
                        "difference": d,
                        "text": stats.verdict_text(r["label"], ref["label"], d, scale, unit)})
    return out


def pareto_frontier(points: pd.DataFrame, x: str = "trainable_params", y: str = "mean") -> pd.DataFrame:
    """Rows no other row beats: best score for at most this many parameters.

    A row is on the frontier when its score is strictly above every row with fewer or equal
    parameters. Returned sorted by parameters."""
    pts = points[np.isfinite(points[x].astype(float)) & np.isfinite(points[y].astype(float))]
    pts = pts.sort_values([x, y], ascending=[True, False])
    best, keep = -math.inf, []
    for idx, score in zip(pts.index, pts[y]):
        if score > best:
            best, keep = score, keep + [idx]
    return pts.loc[keep]


def references_for(dataset: str | None) -> pd.DataFrame | None:
    """Published points for `dataset` ("glue/sst2", "sst2", "SST-2", ...), or None."""
    if not dataset:
        return None
    tokens = re.split(r"[^a-z0-9]+", str(dataset).lower().replace("-", "").replace("_", ""))
    return PUBLISHED_REFERENCES.copy() if "sst2" in tokens else None



CURVE_FIELDS = {"seed", "max_train", "balanced_train"} | QUIET_FIELDS  # what a learning curve's points may differ in


def _train_size(value) -> float:
    """Training examples a run used, from its stored dataset sizes (dict or JSON text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return math.nan
    return float(value.get("train", math.nan)) if isinstance(value, dict) else math.nan


def curve_points(runs: pd.DataFrame | None, metric: str | None = None) -> pd.DataFrame:
    """One row per (model, dataset, method, setting, training-set size) of the training methods:
    columns model, dataset, method, setting, n_train, mean, std, lo, hi (min and max over seeds),
    n. `setting` is the rest of the config (learning rate, options, ...) so runs that differ in
    more than their size and seed are separate curves."""
    runs = _succeeded(runs)
    columns = ["model", "dataset", "method", "setting", "n_train", "mean", "std", "lo", "hi", "n"]
    if len(runs) == 0 or "dataset_sizes" not in runs:
        return pd.DataFrame(columns=columns)
    metric = metric or score_metric(runs)
    runs = runs[~runs["method"].isin(baseline_methods())].copy()
    runs["n_train"] = [_train_size(v) for v in runs["dataset_sizes"]]
    runs["score"] = _num(runs[metric]) if metric in runs else math.nan
    runs["setting"] = [json.dumps({k: v for k, v in sorted(f.items()) if k not in CURVE_FIELDS
                                   and k not in ("model", "dataset", "method")}, default=str)
                       for f in flat_configs(runs)]
    runs = runs[np.isfinite(runs["n_train"]) & np.isfinite(runs["score"])]
    rows = []
    for key, g in runs.groupby(["model", "dataset", "method", "setting", "n_train"], sort=False):
        scores = g["score"]
        rows.append(dict(zip(["model", "dataset", "method", "setting", "n_train"], key), mean=scores.mean(),
                         std=scores.std(ddof=1) if len(scores) > 1 else math.nan, lo=scores.min(), hi=scores.max(),
                         n=len(scores)))
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "dataset", "method", "setting", "n_train"])

