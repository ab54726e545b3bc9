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
# peft's method comparison (github.com/huggingface/peft, method_comparison/MetaMathQA/results, runs of
# June 2025; IA3 of July 2026): Llama-3.2-3B trained 5,000 steps on MetaMathQA, exact match of the
# generated answer on GSM8K's test split; each method at the best learning rate published.
PEFT_METAMATH_REFERENCES = pd.DataFrame({
    "method": ["full", "lora", "ia3", "prompt", "prefix", "ptuning"],
    "trainable_params": [3_212_749_824, 9_175_040, 286_720, 614_400, 11_468_800, 28_382_208],
    "score": [0.500, 0.482, 0.398, 0.252, 0.147, 0.371],
    "source": ["peft method comparison, Llama-3.2-3B, MetaMathQA -> GSM8K"] * 6,
    "dataset": ["openai/gsm8k"] * 6,
})



# _succeeded's results for the last few frames (held, so their ids are not reused): every chart of
# one refresh asks for the succeeded runs of the same frame.
_SUCCEEDED: list[tuple[pd.DataFrame, pd.DataFrame]] = []


def _succeeded(runs: pd.DataFrame | None) -> pd.DataFrame:
    if runs is None or len(runs) == 0:
        return pd.DataFrame()
    for frame, result in _SUCCEEDED:
        if frame is runs:
            return result
    result = runs
    if "status" in result:
        result = result[result["status"] == "succeeded"]
    if FLAT in result or "config" in result:  # a tuning study's search runs: the study's tuned re-runs stand for them
        result = result[[f.get("tag") != "trial" for f in flat_configs(result)]]
    _SUCCEEDED.insert(0, (runs, result))
    del _SUCCEEDED[_MEMO_SIZE:]
    return result


def _num(series: pd.Series) -> pd.Series:
    # runs_df gives nullable ints (pd.NA) for BIGINT columns; plotly and numpy want floats.
    return pd.to_numeric(series, errors="coerce").astype(float)



def baseline_methods() -> set[str]:
    """The registered methods that train nothing (majority class, zero-shot): reference lines, not points."""
    from ftlab import methods

    return {m.name for m in methods.list_methods() if not m.trains}


def _without_baselines(agg: pd.DataFrame) -> pd.DataFrame:
    return agg[~agg["method"].isin(baseline_methods())].reset_index(drop=True)



def runs_task(runs: pd.DataFrame | None) -> str | None:
    """The one task these runs share (None: none, or several), which names their score on charts."""
    if runs is None or len(runs) == 0 or "task" not in runs:
        return None
    found = set(runs["task"].dropna().unique())
    return found.pop() if len(found) == 1 else None


def score_name(runs: pd.DataFrame | None, metric: str) -> str:
    """How these runs' score is named: their task's name for its primary metric (exact match for a
    generative task), else the metric's."""
    return _metric_name(metric, runs_task(runs))


def score_metric(runs: pd.DataFrame | None) -> str:
    """The headline score of these runs: their task's primary metric ("entity_f1" when they are all
    NER), else accuracy (ftlab.tasks.primary_metric)."""
    if runs is None or len(runs) == 0 or "task" not in runs:
        return primary_metric(())
    return primary_metric(set(runs["task"].dropna().unique()))


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
    last_run (the newest run's id: how recent the setting is). Frames are not copied: the result
    for the same frame object and metric (given, or the one these runs default to) is computed once.
    """
    if metric is None and runs is not None:
        metric = score_metric(_succeeded(runs))
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
        res_cols + ["memory_kind", "run_ids", "seeds", "scores", "last_run"]
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
        row["last_run"] = max(row["run_ids"]) if row["run_ids"] else g
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
    wall_s, time_saved (1 - method / full wall time; negative when slower), last_run (the setting's
    newest run id)."""
    columns = ["model", "dataset", "budget", "method", "variant", "n", "score", "score_delta", "trainable_params",
               "params_ratio", "wall_s", "time_saved", "last_run"]
    agg = _without_baselines(aggregate_seeds(runs, metric))
    parts = []
    for _, group in agg.groupby(GROUP, dropna=False, sort=False):
        fulls = group[group["method"] == "full"]
        if fulls.empty:
            continue
        default = fulls[fulls["variant"] == ""]
        f = (default if len(default) else fulls).iloc[0]
        others = group.drop(f.name)  # whole columns at once: a group may hold thousands of settings
        parts.append(pd.DataFrame({
            "model": others["model"], "dataset": others["dataset"], "budget": others["budget"],
            "method": others["method"], "variant": others["variant"], "n": others["n"], "score": others["mean"],
            "score_delta": others["mean"] - f["mean"], "trainable_params": others["trainable_params"],
            "params_ratio": others["trainable_params"] / f["trainable_params"] if f["trainable_params"] else math.nan,
            "wall_s": others["wall_s"],
            "time_saved": 1 - others["wall_s"] / f["wall_s"] if f["wall_s"] else math.nan,
            "last_run": others["last_run"]}, columns=columns))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def groups_without_full(runs: pd.DataFrame | None, metric: str | None = None) -> list[tuple]:
    """The comparable groups (model, dataset, budget) with trained methods but no succeeded full
    fine-tuning run: nothing there to set the others against."""
    agg = _without_baselines(aggregate_seeds(runs, metric))
    return [key for key, group in agg.groupby(GROUP, dropna=False, sort=False) if not (group["method"] == "full").any()]


# _verdict_pairs' results for the last few aggregate_seeds results (held: their ids stay theirs).
_PAIRS: list[tuple[pd.DataFrame, list]] = []


def _verdict_pairs(runs: pd.DataFrame | None, metric: str | None) -> list[tuple]:
    """(model, dataset, budget, setting, reference) for every verdict these runs have: settings are
    aggregate_seeds' rows (dicts with their label), cheap to list; the tests are made by `verdicts`."""
    every = aggregate_seeds(runs, metric)
    for frame, pairs in _PAIRS:
        if frame is every:
            return pairs
    pairs = _pairs(every)
    _PAIRS.insert(0, (every, pairs))
    del _PAIRS[_MEMO_SIZE:]
    return pairs


def _pairs(every: pd.DataFrame) -> list[tuple]:
    agg = _without_baselines(every)
    agg = agg[agg["n"] >= 2]
    if agg.empty:
        return []
    agg = agg.assign(label=_labels(agg))
    out = []
    for (model, dataset, budget), group in agg.groupby(GROUP, dropna=False, sort=False):
        full = group[group["method"] == "full"]
        ref = (full.sort_values("variant") if len(full) else group.sort_values("mean", ascending=False)).iloc[0]
        ref = {"label": ref["label"], "scores": ref["scores"]}
        for r in group[["label", "scores", "last_run", "metric"]].to_dict("records"):
            if r["label"] != ref["label"]:
                out.append((model, dataset, budget, r, ref))
    return out


def verdict_count(runs: pd.DataFrame | None, metric: str | None = None) -> int:
    """How many verdicts `verdicts` gives for these runs without a limit."""
    return len(_verdict_pairs(runs, metric))


def verdicts(runs: pd.DataFrame | None, metric: str | None = None, limit: int | None = None) -> list[dict]:
    """Which gaps are more than seed noise: per comparable group (model, dataset, budget), every
    setting with 2 or more seeds against full fine-tuning (its default variant, else its first), or
    against the best setting where no full run has 2 seeds. Settings are aggregate_seeds' variants,
    so runs of different budgets are never pooled or compared. Each item: model, dataset, budget,
    a, b (labels), text, and the stats.Difference. With `limit`, only the verdicts of the `limit`
    most recent settings (their newest run), in the same order: each is a t-test, and a page shows
    a few dozen sentences at most (`verdict_count` says how many there are in all)."""
    from ftlab import stats

    pairs = _verdict_pairs(runs, metric)
    if limit is not None and len(pairs) > limit:
        newest = sorted(range(len(pairs)), key=lambda i: pairs[i][3]["last_run"], reverse=True)[:max(0, limit)]
        pairs = [pairs[i] for i in sorted(newest)]
    if not pairs:
        return []
    metric = pairs[0][3]["metric"]
    scale, unit = (100.0, None) if metric in FRACTION_METRICS else (1.0, _metric_name(metric))
    out = []
    for model, dataset, budget, r, ref in pairs:
        d = stats.difference(r["scores"], ref["scores"])
        out.append({"model": model, "dataset": dataset, "budget": budget, "a": r["label"], "b": ref["label"],
                    "difference": d, "text": stats.verdict_text(r["label"], ref["label"], d, scale, unit)})
    return out


def pareto_frontier(points: pd.DataFrame, x: str = "trainable_params", y: str = "mean") -> pd.DataFrame:
    """Rows no other row beats: best score for at most this many parameters.

    A row is on the frontier when its score is strictly above every row with fewer or equal
    parameters. Returned sorted by parameters."""
    pts = points[np.isfinite(points[x].astype(float)) & np.isfinite(points[y].astype(float))]
    return pts.iloc[frontier_positions(pts[x].tolist(), pts[y].tolist())]


def frontier_positions(xs: list, ys: list) -> list[int]:
    """The positions of the points on the Pareto frontier of (xs, ys), in order of x: each one's y
    strictly above every point with a smaller or equal x (among equal x, the higher y first)."""
    best, keep = -math.inf, []
    for i in sorted(range(len(xs)), key=lambda i: (xs[i], -ys[i])):
        if ys[i] > best:
            best, keep = ys[i], keep + [i]
    return keep


def references_for(dataset: str | None) -> pd.DataFrame | None:
    """Published points for `dataset` ("glue/sst2", "sst2", "SST-2", ...; "openai/gsm8k",
    "meta-math/MetaMathQA"), or None."""
    if not dataset:
        return None
    tokens = re.split(r"[^a-z0-9]+", str(dataset).lower().replace("-", "").replace("_", ""))
    if "sst2" in tokens:
        return PUBLISHED_REFERENCES.copy()
    if "gsm8k" in tokens or "metamathqa" in tokens:  # not gsm-symbolic: other problems, another test
        return PEFT_METAMATH_REFERENCES.copy()
    return None



CURVE_FIELDS = {"seed", "max_train", "balanced_train"} | QUIET_FIELDS  # what a learning curve's points may differ in


def _train_size(value) -> float:
    """Training examples a run used, from its stored dataset sizes (dict or JSON text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return math.nan
    return float(value.get("train", math.nan)) if isinstance(value, dict) else math.nan


def _train_sizes(values: list) -> list[float]:
    """_train_size of each value, each distinct stored text parsed once (runs of a launch share it)."""
    parsed: dict = {}
    out = []
    for v in values:
        if isinstance(v, str):
            if v not in parsed:
                parsed[v] = _train_size(v)
            out.append(parsed[v])
        else:
            out.append(_train_size(v))
    return out


def curve_points(runs: pd.DataFrame | None, metric: str | None = None) -> pd.DataFrame:
    """One row per (model, dataset, method, setting, training-set size) of the training methods:
    columns model, dataset, method, setting, n_train, mean, std, lo, hi (min and max over seeds),
    n, last_run (the newest run's id). `setting` is the rest of the config (learning rate,
    options, ...) so runs that differ in more than their size and seed are separate curves."""
    runs = _succeeded(runs)
    keys = ["model", "dataset", "method", "setting", "n_train"]
    columns = keys + ["mean", "std", "lo", "hi", "n", "last_run"]
    if len(runs) == 0 or "dataset_sizes" not in runs:
        return pd.DataFrame(columns=columns)
    metric = metric or score_metric(runs)
    runs = runs[~runs["method"].isin(baseline_methods())]
    frame = pd.DataFrame({
        "model": runs["model"], "dataset": runs["dataset"], "method": runs["method"],
        "setting": [json.dumps({k: v for k, v in sorted(f.items()) if k not in CURVE_FIELDS
                                and k not in ("model", "dataset", "method")}, default=str)
                    for f in flat_configs(runs)],
        "n_train": _train_sizes(runs["dataset_sizes"].tolist()),
        "score": _num(runs[metric]) if metric in runs else math.nan,
        "id": _num(runs["id"]) if "id" in runs else np.arange(len(runs), dtype=float),
    }, index=runs.index)
    frame = frame[np.isfinite(frame["n_train"]) & np.isfinite(frame["score"])]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    # every group at once (pandas' groupby), not a Python loop per group
    grouped = frame.groupby(keys, sort=False)
    out = grouped["score"].agg(["mean", "std", "min", "max", "count"]).rename(
        columns={"min": "lo", "max": "hi", "count": "n"})
    out["last_run"] = grouped["id"].max()
    out = out.reset_index()
    out["n"] = out["n"].astype(int)
    return out[columns].sort_values(keys)
