"""Charts for the dashboard's Compare and Run tabs: pure functions, DataFrame in, Figure out.

Inputs are the frames `ftlab.store.Store` returns (`runs_df`, `steps_df`, `evals_df`) and a
run's confusion matrix. Nothing here does I/O or imports torch/gradio, so the UI, the CLI and
the tests can all call these directly. When there is nothing to draw (no rows, no succeeded
runs) every function returns `empty_figure(message)` instead of raising: a dashboard tab must
render on an empty database.

Conventions, kept across every chart so the tabs read as one:
- one colour AND one marker symbol per method (`method_style`), from the colour-blind-safe
  Okabe-Ito palette extended with Plotly's "Safe" palette: 14+ methods need more than 8 colours,
  and the symbol keeps methods apart where colours are hard to tell apart;
- scores are fractions in the data and shown as % on the axis;
- `layout.meta` is a dict describing what was drawn (counts, frontier members), for tests and
  for the UI's captions.
"""

from __future__ import annotations

import json
import math
import re
import zlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ftlab.text import t
from ftlab.stats import t_quantile
from ftlab.tasks import primary_metric

TEMPLATE = "plotly_white"
FONT_SIZE = 13  # >= 12 keeps ticks legible on a 1280x800 screenshot

# Okabe-Ito without its yellow (#F0E442 has too little contrast on white), then Plotly's
# "Safe" palette without its grey (grey is kept for the Pareto frontier and references).
# full fine-tuning gets black: it is the baseline every other method is read against.
_OKABE_ITO = ["#000000", "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"]
_SAFE = ["rgb(51, 34, 136)", "rgb(136, 34, 85)", "rgb(68, 170, 153)", "rgb(221, 204, 119)",
         "rgb(153, 153, 51)", "rgb(204, 102, 119)", "rgb(17, 119, 51)", "rgb(170, 68, 153)",
         "rgb(102, 17, 0)", "rgb(136, 204, 238)"]
PALETTE = _OKABE_ITO + _SAFE + ["#F0E442"]
SYMBOLS = ["star", "circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x",
           "pentagon", "hexagon", "triangle-left", "triangle-right", "star-square", "hourglass",
           "bowtie", "star-diamond", "diamond-wide", "hexagram"]
# The registered methods that train (ftlab/methods/; the baselines are drawn as lines) in a fixed
# order, so a method keeps its colour whichever subset of methods a chart shows. The order puts
# the most compared methods on the most distinct colours.
KNOWN_METHODS = ["full", "lora", "bitfit", "adapter", "ia3", "head", "prefix", "adalora", "prompt", "ptuning",
                 "vera", "loha", "lokr", "boft"]
FRONTIER_COLOR = "rgb(136, 136, 136)"
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]

METRIC_TITLES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "entity_f1": "entity F1",
                 "entity_precision": "entity precision", "entity_recall": "entity recall",
                 "token_accuracy": "token accuracy", "loss": "loss", "eval_loss": "loss"}
# Metrics that are fractions in [0, 1]: shown with a % axis.
FRACTION_METRICS = {"accuracy", "macro_f1", "entity_f1", "entity_precision", "entity_recall",
                    "token_accuracy"}
# Per-run resource columns that aggregate_seeds averages (with their std) for the bar charts.
RESOURCE_COLUMNS = ["train_samples_per_s", "train_tokens_per_s", "eval_samples_per_s",
                    "peak_memory_mb", "wall_s", "time_to_first_step_s"]
MEMORY_KINDS = {"cuda_max_allocated": "GPU allocated", "cpu_peak_rss": "peak RSS during the run",
                "cpu_process_peak_rss": "process peak RSS"}

PUBLISHED_REFERENCES = pd.DataFrame({
    "method": ["full", "lora", "bitfit"],
    "trainable_params": [125_000_000, 300_000, 100_000],
    "score": [0.948, 0.951, 0.937],  # fractions, like ftlab's accuracy
    "source": ["Hu et al. 2021, RoBERTa-base SST-2"] * 3,
    "dataset": ["glue/sst2"] * 3,
})


# -- shared helpers -----------------------------------------------------------------------------

def method_style(method: str) -> tuple[str, str]:
    """(colour, marker symbol) of a method, the same in every chart and every session.

    Unknown names (a custom method, a renamed variant like "lora-r16") hash with crc32, not
    hash(), which is salted per process and would change colours between restarts."""
    if method in KNOWN_METHODS:
        i = KNOWN_METHODS.index(method)
    else:
        i = zlib.crc32(str(method).encode())
    return PALETTE[i % len(PALETTE)], SYMBOLS[i % len(SYMBOLS)]


def _metric_name(metric: str) -> str:
    return t(f"metric_{metric}", METRIC_TITLES.get(metric, metric.replace("_", " ")))


def _metric_title(metric: str, split: str = "test") -> str:
    unit = " (%)" if metric in FRACTION_METRICS else ""
    return t("metric_title", split=t(f"split_{split.lower()}", split.capitalize()), metric=_metric_name(metric),
             unit=unit)


def _score_format(metric: str) -> str:
    return ".1%" if metric in FRACTION_METRICS else ".4g"


def _layout(fig: go.Figure, title: str, meta: dict, legend: str | None = "right") -> go.Figure:
    legends = {
        "right": dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"),
        # Below the plot area, clear of the x axis title: long run lists wrap into rows.
        "below": dict(orientation="h", x=0, xanchor="left", y=-0.18, yanchor="top"),
    }
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0.01, xanchor="left"),
                      font=dict(size=FONT_SIZE), title_font=dict(size=FONT_SIZE + 5),
                      meta={"empty": False, **meta}, showlegend=legend is not None,
                      margin=dict(l=70, r=30, t=70, b=70 if legend != "below" else 140))
    if legend:
        fig.update_layout(legend=legends[legend])
    return fig


def empty_figure(message: str) -> go.Figure:
    """A blank figure with `message` centred: what every chart shows when it has no data."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=FONT_SIZE + 3, color="#555"))
    fig.update_layout(template=TEMPLATE, font=dict(size=FONT_SIZE), meta={"empty": True, "message": message},
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig


def _succeeded(runs: pd.DataFrame | None) -> pd.DataFrame:
    if runs is None or len(runs) == 0:
        return pd.DataFrame()
    if "status" in runs:
        runs = runs[runs["status"] == "succeeded"]
    if "config" in runs:  # a tuning study's search runs: the study's tuned re-runs stand for them
        runs = runs[[flat_config(c).get("tag") != "trial" for c in runs["config"]]]
    return runs


def _num(series: pd.Series) -> pd.Series:
    # runs_df gives nullable ints (pd.NA) for BIGINT columns; plotly and numpy want floats.
    return pd.to_numeric(series, errors="coerce").astype(float)


def _err(values) -> list[float]:
    # n = 1 has no spread: draw no error bar rather than a NaN one.
    return [0.0 if v is None or not np.isfinite(v) else float(v) for v in values]


_ONE_SEED = "1 seed: no interval"


def _spread(n_runs: int, std_text: str) -> str:
    """Hover text for a seed spread: the std and n, or why there is none."""
    return f"± {std_text} std, n = %{{customdata[0]}}" if n_runs > 1 else _ONE_SEED


def _labels(agg: pd.DataFrame) -> list[str]:
    """Method names, qualified by model/dataset only when the frame mixes several, and by the
    config fields that tell a method's variants apart when it has several."""
    mixed = agg[["model", "dataset"]].drop_duplicates().shape[0] > 1
    variants = agg["variant"] if "variant" in agg else [""] * len(agg)
    out = []
    for m, mo, d, v in zip(agg["method"], agg["model"], agg["dataset"], variants):
        qualifiers = ([f"{mo}, {d}"] if mixed else []) + ([v] if v else [])
        out.append(f"{m} ({'; '.join(qualifiers)})" if qualifiers else str(m))
    return out


def flat_config(value) -> dict:
    """A run's config (a dict, or the JSON text the store keeps) as flat {"method_options.r": 8, ...};
    {} when there is none."""
    if isinstance(value, str) and value:
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    out = {}
    for key, item in value.items():
        if isinstance(item, dict):
            out.update({f"{key}.{k}": v for k, v in flat_config(item).items()})
        else:
            out[key] = item
    return out


def _variants(runs: pd.DataFrame) -> tuple[pd.Series, dict]:
    """Each run's variant key (its config without the seed: runs that differ only by seed are
    repeats of one experiment) and, per key, the fields that set it apart from the method's
    other variants ("max_train=500"); "" when a method has one variant."""
    if "config" not in runs:
        return pd.Series([""] * len(runs), index=runs.index), {}
    from ftlab.config import computed_fields

    flats = runs["config"].map(lambda c: {k: v for k, v in computed_fields(flat_config(c)).items() if k != "seed"})
    keys = flats.map(lambda f: json.dumps(f, sort_keys=True, default=str))
    names: dict = {}
    group_cols = [c for c in ("model", "dataset", "method") if c in runs]
    for _, idx in runs.groupby(group_cols, dropna=False, sort=False).groups.items():
        distinct = {keys[i]: flats[i] for i in idx}
        if len(distinct) < 2:
            names.update({k: "" for k in distinct})
            continue
        fields = sorted({f for flat in distinct.values() for f in flat if f not in QUIET_FIELDS
                         and len({json.dumps(d.get(f), default=str) for d in distinct.values()}) > 1})
        for k, flat in distinct.items():
            text = ", ".join(f"{f.removeprefix('method_options.')}={_short(f, flat.get(f, _added_default(f)))}"
                             for f in fields)
            names[k] = f"{flat['tag']}: {text}" if flat.get("tag") and text else (flat.get("tag") or text)
    return keys, names


def _added_default(name: str):
    """The default of a RunConfig field newer than some stored runs (what those runs used), else None."""
    from ftlab.config import ADDED_FIELDS, RunConfig

    return RunConfig.model_fields[name].default if name in ADDED_FIELDS else None


# Config fields left out of variant names: bookkeeping (when to checkpoint) and the tag, which
# leads the name instead ("tuned: lr=0.00352, r=32").
QUIET_FIELDS = {"checkpoint_every", "tag"}


UNSET = {"lr": "default", "max_train": "all", "max_eval": "all", "max_steps": "epochs"}


def _short(name: str, value) -> str:
    """A config value in a label: floats to 3 significant digits; unset as what it means ('lr=default')."""
    if value is None:
        return UNSET.get(name, "none")
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -- aggregation --------------------------------------------------------------------------------

BASELINE_STYLE = {"majority": ("#555555", "dot"), "zero-shot": ("#8B4513", "dash"), "few-shot": ("#B8860B", "dashdot")}


def baseline_methods() -> set[str]:
    """The registered methods that train nothing (majority class, zero-shot): reference lines, not points."""
    from ftlab import methods

    return {m.name for m in methods.list_methods() if not m.trains}


def _without_baselines(agg: pd.DataFrame) -> pd.DataFrame:
    return agg[~agg["method"].isin(baseline_methods())].reset_index(drop=True)


def add_baseline_lines(fig: go.Figure, agg: pd.DataFrame, fmt: str) -> list[str]:
    """A labelled horizontal line per baseline row of `agg` (aggregate_seeds); returns the labels.
    The model and dataset go into the label when the chart holds more than one pair."""
    rows = agg[agg["method"].isin(baseline_methods()) & np.isfinite(agg["mean"].astype(float))]
    mixed = agg[["model", "dataset"]].drop_duplicates().shape[0] > 1
    labels = []
    for i, (_, r) in enumerate(rows.iterrows()):
        colour, dash = BASELINE_STYLE.get(r["method"], ("#555555", "dashdot"))
        where = f" · {r['model']}, {r['dataset']}" if mixed else ""
        name = t("chart_majority") if r["method"] == "majority" else r["method"]
        label = f"{name}{where}: {r['mean']:{fmt}}"
        fig.add_hline(y=r["mean"], line=dict(color=colour, dash=dash, width=2),
                      annotation=dict(text=label, font=dict(size=FONT_SIZE - 1, color=colour)),
                      annotation_position="bottom right" if i % 2 == 0 else "top left")
        labels.append(label)
    return labels


def score_metric(runs: pd.DataFrame | None) -> str:
    """The headline score of these runs: their task's primary metric ("entity_f1" when they are all
    NER), else accuracy (ftlab.tasks.primary_metric)."""
    if runs is None or len(runs) == 0 or "task" not in runs:
        return primary_metric(())
    return primary_metric(set(runs["task"].dropna()))


def aggregate_seeds(runs: pd.DataFrame | None, metric: str | None = None) -> pd.DataFrame:
    """One row per (model, dataset, method, variant) over succeeded runs, sorted by trainable
    params. Runs whose configs differ only by seed are one variant; a method run with other
    settings too (say max_train 500 and 2000) gets a row per setting, named in `variant`.

    Columns: model, dataset, method, variant, metric, n (runs with a score), n_runs, mean, std (sample,
    ddof=1), ci95 (t-based half-width: mean +- ci95 is the 95% confidence interval; NaN for
    n = 1), trainable_params (mean), every RESOURCE_COLUMNS mean and its `<col>_std`,
    memory_kind (distinct kinds joined by ", "), run_ids, seeds, scores (each run's score).
    """
    keys = ["model", "dataset", "method"]
    runs = _succeeded(runs)
    metric = metric or score_metric(runs)
    stat_cols = ["mean", "std", "n", "ci95"]
    res_cols = [c for col in RESOURCE_COLUMNS for c in (col, f"{col}_std")]
    columns = keys + ["variant", "metric", "n_runs"] + stat_cols + ["trainable_params"] + res_cols + \
        ["memory_kind", "run_ids", "seeds", "scores"]
    if len(runs) == 0:
        return pd.DataFrame(columns=columns)
    runs = runs.copy()
    for col in keys:
        if col not in runs:
            runs[col] = None
    runs["_variant"], variant_names = _variants(runs)
    rows = []
    # dropna=False: a run with no recorded model/dataset still belongs somewhere.
    for (model, dataset, method, variant), g in runs.groupby(keys + ["_variant"], dropna=False, sort=False):
        scores = _num(g[metric]).dropna() if metric in g else pd.Series(dtype=float)
        n = len(scores)
        std = float(scores.std(ddof=1)) if n > 1 else math.nan
        row = {"model": model, "dataset": dataset, "method": method, "variant": variant_names.get(variant, ""),
               "metric": metric,
               "n_runs": len(g), "n": n, "mean": float(scores.mean()) if n else math.nan,
               "std": std, "ci95": t_quantile(n - 1) * std / math.sqrt(n) if n > 1 else math.nan,
               "trainable_params": _num(g["trainable_params"]).mean() if "trainable_params" in g else math.nan}
        for col in RESOURCE_COLUMNS:
            values = _num(g[col]) if col in g else pd.Series([math.nan] * len(g))
            row[col] = values.mean()
            row[f"{col}_std"] = values.std(ddof=1) if values.count() > 1 else math.nan
        kinds = sorted(set(g["memory_kind"].dropna())) if "memory_kind" in g else []
        row["memory_kind"] = ", ".join(kinds) or None
        row["run_ids"] = [int(i) for i in g["id"]] if "id" in g else []
        row["seeds"] = [int(s) for s in g["seed"].dropna()] if "seed" in g else []
        row["scores"] = [float(x) for x in scores]
        rows.append(row)
    agg = pd.DataFrame(rows, columns=columns)
    return agg.sort_values(["model", "dataset", "trainable_params", "method", "variant"],
                           na_position="last").reset_index(drop=True)


def versus_full(runs: pd.DataFrame | None, metric: str | None = None) -> pd.DataFrame:
    """What each method gives up and saves against full fine-tuning of the same model and
    dataset, seed-averaged: one row per other method (variant), for (model, dataset) pairs that
    have a succeeded full fine-tuning run.

    Columns: model, dataset, method, variant, n (seeds), score, score_delta (method - full, in
    the metric's units: accuracy 0.01 = 1 point), trainable_params, params_ratio (method / full),
    wall_s, time_saved (1 - method / full wall time; negative when slower)."""
    columns = ["model", "dataset", "method", "variant", "n", "score", "score_delta", "trainable_params",
               "params_ratio", "wall_s", "time_saved"]
    agg = _without_baselines(aggregate_seeds(runs, metric))
    rows = []
    for _, group in agg.groupby(["model", "dataset"], dropna=False, sort=False):
        full = group[(group["method"] == "full") & (group["variant"] == "")]
        full = full if len(full) else group[group["method"] == "full"].head(1)
        if full.empty:
            continue
        f = full.iloc[0]
        for _, r in group.drop(full.index).iterrows():
            rows.append({"model": r["model"], "dataset": r["dataset"], "method": r["method"], "variant": r["variant"],
                         "n": r["n"], "score": r["mean"], "score_delta": r["mean"] - f["mean"],
                         "trainable_params": r["trainable_params"],
                         "params_ratio": r["trainable_params"] / f["trainable_params"] if f["trainable_params"] else math.nan,
                         "wall_s": r["wall_s"],
                         "time_saved": 1 - r["wall_s"] / f["wall_s"] if f["wall_s"] else math.nan})
    return pd.DataFrame(rows, columns=columns)


def verdicts(runs: pd.DataFrame | None, metric: str | None = None) -> list[dict]:
    """Which gaps are more than seed noise: per model and dataset, every setting with 2 or more
    seeds against full fine-tuning (its default variant, else its first), or against the best
    setting where no full run has 2 seeds. Settings are aggregate_seeds' variants, so runs of
    different budgets are never pooled. Each item: model, dataset, a, b (labels), text, and the
    stats.Difference."""
    from ftlab import stats

    agg = _without_baselines(aggregate_seeds(runs, metric))
    agg = agg[agg["n"] >= 2]
    if agg.empty:
        return []
    metric = agg["metric"].iloc[0]
    scale, unit = (100.0, None) if metric in FRACTION_METRICS else (1.0, _metric_name(metric))
    agg = agg.assign(label=_labels(agg))
    out = []
    for (model, dataset), group in agg.groupby(["model", "dataset"], dropna=False, sort=False):
        full = group[group["method"] == "full"]
        ref = (full.sort_values("variant") if len(full) else group.sort_values("mean", ascending=False)).iloc[0]
        for _, r in group.iterrows():
            if r["label"] == ref["label"]:
                continue
            d = stats.difference(r["scores"], ref["scores"])
            out.append({"model": model, "dataset": dataset, "a": r["label"], "b": ref["label"], "difference": d,
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


# -- Compare tab --------------------------------------------------------------------------------

def score_vs_params(runs: pd.DataFrame | None, metric: str | None = None,
                    reference: pd.DataFrame | None = None) -> go.Figure:
    """Seed-averaged score against trainable parameters (log x), one point per method.

    Error bars are 95% CIs over seeds; the grey step line is the Pareto frontier (a step, since
    the best score reachable within a parameter budget stays flat until the next frontier
    point); full fine-tuning is a large star with an annotation."""
    metric = metric or score_metric(_succeeded(runs))
    every = aggregate_seeds(runs, metric)
    # A log axis cannot place 0 or a missing parameter count; such methods are left out (the
    # baselines, which train nothing, are drawn as horizontal lines instead).
    agg = every[np.isfinite(every["mean"].astype(float)) & (every["trainable_params"].astype(float) > 0)]
    if agg.empty:
        return empty_figure(t("chart_no_score", metric=_metric_name(metric)))
    agg = agg.reset_index(drop=True)
    agg["label"] = _labels(agg)
    fmt = _score_format(metric)
    fig = go.Figure()
    seen: set = set()
    for _, r in agg.iterrows():
        colour, symbol = method_style(r["method"])
        key = (r["model"], r["dataset"], r["method"])
        if key in seen:  # a method's further variants: same colour, open marker
            symbol = f"{symbol}-open"
        seen.add(key)
        full = r["method"] == "full"
        fig.add_trace(go.Scatter(
            x=[r["trainable_params"]], y=[r["mean"]], name=r["label"], mode="markers",
            marker=dict(color=colour, symbol=symbol, size=20 if full else 13,
                        line=dict(width=1, color="white")),
            error_y=dict(type="data", array=_err([r["ci95"]]), visible=r["n"] > 1, thickness=1.5, width=6),
            customdata=[[r["n"], r["std"], r["ci95"]]],
            hovertemplate=(f"<b>{r['label']}</b><br>%{{x:,.0f}} {t('chart_trainable_hover')}<br>"
                           + (f"mean %{{y:{fmt}}} ± %{{customdata[2]:{fmt}}} (95% CI)<br>"
                              f"std %{{customdata[1]:{fmt}}}, n = %{{customdata[0]}}" if r["n"] > 1 else
                              f"%{{y:{fmt}}}, {_ONE_SEED}") + "<extra></extra>")))
    frontiers = []
    for _, group in agg.groupby(["model", "dataset"], dropna=False, sort=False):
        front = pareto_frontier(group)
        frontiers += list(front["label"])
        fig.add_trace(go.Scatter(
            x=front["trainable_params"], y=front["mean"], mode="lines", line_shape="hv",
            line=dict(color=FRONTIER_COLOR, dash="dash", width=2), name=t("chart_frontier"),
            hoverinfo="skip", showlegend=not any(tr.name == t("chart_frontier") for tr in fig.data)))
    for _, r in agg[agg["method"] == "full"].iterrows():
        # Annotations on a log axis take log10(x).
        fig.add_annotation(x=math.log10(r["trainable_params"]), y=r["mean"], text=t("chart_full_ft"),
                           showarrow=True, arrowhead=2, ax=-60, ay=-40, font=dict(size=FONT_SIZE))
    n_refs = 0
    if reference is not None and len(reference):
        for source, ref in reference.groupby("source", sort=False):
            styles = [method_style(m) for m in ref["method"]]
            fig.add_trace(go.Scatter(
                x=ref["trainable_params"], y=ref["score"], mode="markers+text", name=f"published: {source}",
                text=[f"{m} (paper)" for m in ref["method"]], textposition="top center",
                textfont=dict(size=FONT_SIZE - 1, color="#555"),
                marker=dict(color=[c for c, _ in styles], symbol=[f"{s}-open" for _, s in styles],
                            size=13, line=dict(width=2)),
                hovertemplate=f"<b>%{{text}}</b><br>{source}<br>%{{x:,.0f}} trainable params<br>"
                              f"%{{y:{fmt}}}<extra></extra>"))
            n_refs += len(ref)
    baselines = add_baseline_lines(fig, every[every["dataset"].isin(agg["dataset"])], fmt)
    # dtick=1: one label per decade (1k, 10k, ...); the default 2/5 minor labels print small.
    fig.update_xaxes(type="log", title=t("chart_trainable_axis"), dtick=1, tickformat="~s")
    fig.update_yaxes(title=_metric_title(metric), tickformat=".0%" if metric in FRACTION_METRICS else None)
    return _layout(fig, t("chart_score_title", metric=_metric_title(metric).split(" (")[0]),
                   {"metric": metric, "n_points": len(agg), "labels": list(agg["label"]),
                    "frontier": frontiers, "full_ft": bool((agg["method"] == "full").any()),
                    "n_references": n_refs, "baselines": baselines})


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
    runs["setting"] = [json.dumps({k: v for k, v in sorted(flat_config(c).items()) if k not in CURVE_FIELDS
                                   and k not in ("model", "dataset", "method")}, default=str)
                       for c in (runs["config"] if "config" in runs else [{}] * len(runs))]
    runs = runs[np.isfinite(runs["n_train"]) & np.isfinite(runs["score"])]
    rows = []
    for key, g in runs.groupby(["model", "dataset", "method", "setting", "n_train"], sort=False):
        scores = g["score"]
        rows.append(dict(zip(["model", "dataset", "method", "setting", "n_train"], key), mean=scores.mean(),
                         std=scores.std(ddof=1) if len(scores) > 1 else math.nan, lo=scores.min(), hi=scores.max(),
                         n=len(scores)))
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "dataset", "method", "setting", "n_train"])


def learning_curve(runs: pd.DataFrame | None, metric: str | None = None) -> go.Figure:
    """Test score against the number of training examples (log x): a line per method through
    the seed means, a band from the lowest to the highest seed, for every method run at 2 or
    more sizes. Zero-shot and the majority class are horizontal lines; few-shot prompting is a
    point at the number of labelled examples its prompt holds."""
    metric = metric or score_metric(_succeeded(runs))
    points = curve_points(runs, metric)
    sizes = points.groupby(["model", "dataset", "method", "setting"], sort=False)["n_train"].transform("nunique")
    points = points[sizes >= 2] if len(points) else points
    if points.empty:
        return empty_figure(t("chart_curve_empty"))
    fmt = _score_format(metric)
    fig = go.Figure()
    curves = points.groupby(["model", "dataset", "method", "setting"], sort=False)
    mixed = points[["model", "dataset"]].drop_duplicates().shape[0] > 1
    settings = points.groupby(["model", "dataset", "method"])["setting"].nunique()
    labels = []
    for (model, dataset, method, setting), g in curves:
        colour, symbol = method_style(method)
        qualifiers = ([f"{model}, {dataset}"] if mixed else []) + (
            [", ".join(f"{_short(k, v)}" for k, v in json.loads(setting).items())] if settings[(model, dataset, method)] > 1
            else [])
        label = f"{method} ({'; '.join(q for q in qualifiers if q)})" if any(qualifiers) else method
        labels.append(label)
        x = list(g["n_train"])
        if (g["n"] > 1).any():
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(g["hi"]) + list(g["lo"])[::-1], fill="toself", mode="lines",
                                     fillcolor=colour, opacity=0.15, line=dict(width=0), hoverinfo="skip",
                                     showlegend=False, legendgroup=label))
        fig.add_trace(go.Scatter(
            x=x, y=g["mean"], mode="lines+markers", name=label, legendgroup=label,
            line=dict(color=colour, width=2.5 if method == "full" else 2),
            marker=dict(symbol=symbol, size=9, color=colour), customdata=np.stack([g["n"], g["lo"], g["hi"]], -1),
            hovertemplate=(f"<b>{label}</b><br>%{{x:,.0f}} training examples<br>mean %{{y:{fmt}}} over "
                           f"%{{customdata[0]}} seed(s), from %{{customdata[1]:{fmt}}} to %{{customdata[2]:{fmt}}}"
                           "<extra></extra>")))
    pairs = points[["model", "dataset"]].drop_duplicates()
    every = aggregate_seeds(runs, metric)
    every = every.merge(pairs, on=["model", "dataset"])
    lines = every[every["method"].isin({"majority", "zero-shot"})]
    # The majority label can change with the subset; one line per method: the mean over the sizes.
    lines = lines.groupby(["model", "dataset", "method"], as_index=False).agg(mean=("mean", "mean"))
    baselines = add_baseline_lines(fig, lines, fmt)
    shots = _succeeded(runs)
    shots = shots[(shots["method"] == "few-shot") & shots["dataset"].isin(pairs["dataset"])] if len(shots) else shots
    if len(shots):
        k = [flat_config(c).get("method_options.shots", 4) for c in shots["config"]]
        n_classes = [len(json.loads(v)) if isinstance(v, str) else len(v or []) for v in shots["label_names"]] \
            if "label_names" in shots else [1] * len(shots)
        x = [a * b for a, b in zip(k, n_classes)]
        colour = BASELINE_STYLE["few-shot"][0]
        fig.add_trace(go.Scatter(x=x, y=_num(shots[metric]), mode="markers", name=t("chart_few_shot"),
                                 marker=dict(symbol="star", size=14, color=colour, line=dict(width=1, color="white")),
                                 hovertemplate=f"<b>few-shot</b><br>%{{x}} examples in the prompt<br>%{{y:{fmt}}}"
                                               "<extra></extra>"))
        baselines.append(t("chart_few_shot"))
    fig.update_xaxes(type="log", title=t("chart_examples_axis"), dtick=1, tickformat="~s")
    fig.update_yaxes(title=_metric_title(metric), tickformat=".0%" if metric in FRACTION_METRICS else None)
    return _layout(fig, t("chart_curve_title", metric=_metric_title(metric).split(" (")[0].lower()),
                   {"metric": metric, "curves": labels, "n_points": len(points), "baselines": baselines})


def forgetting(runs: pd.DataFrame | None) -> go.Figure:
    """Continual runs (init_from): what the new task gained against what the old task lost, one
    point per method (and model, and the pair of datasets), mean over seeds with their range.
    Up is better, left is better: a method in the top left learns without forgetting."""
    everything = _succeeded(runs)
    if len(everything) == 0 or "forgetting" not in everything:
        return empty_figure(t("chart_forgetting_empty"))
    # A pair is named by its datasets (the parent's, from the parent run when it is in the frame),
    # so the seeds of "movies -> products" are one point whatever their parents' ids.
    datasets = dict(zip(everything["id"], everything["dataset"])) if "id" in everything else {}
    runs = everything[np.isfinite(_num(everything["forgetting"])) & np.isfinite(_num(everything["new_task_gain"]))].copy()
    if runs.empty:
        return empty_figure(t("chart_forgetting_empty"))
    metric = score_metric(runs)
    runs["pair"] = [f"{datasets.get(p, 'run ' + str(p))} → {d}" for p, d in zip(runs["init_from"], runs["dataset"])]
    fig = go.Figure()
    labels = []
    mixed = runs[["model", "pair"]].drop_duplicates().shape[0] > 1
    for (model, pair, method), g in runs.groupby(["model", "pair", "method"], sort=False):
        colour, symbol = method_style(method)
        x, y = _num(g["forgetting"]), _num(g["new_task_gain"])
        label = f"{method} ({model}, {pair})" if mixed else method
        labels.append(label)
        fig.add_trace(go.Scatter(
            x=[x.mean()], y=[y.mean()], mode="markers+text", name=label, text=[method], textposition="top center",
            marker=dict(color=colour, symbol=symbol, size=16 if method == "full" else 13, line=dict(width=1, color="white")),
            error_x=dict(type="data", symmetric=False, array=[x.max() - x.mean()], arrayminus=[x.mean() - x.min()],
                         visible=len(g) > 1, thickness=1.5),
            error_y=dict(type="data", symmetric=False, array=[y.max() - y.mean()], arrayminus=[y.mean() - y.min()],
                         visible=len(g) > 1, thickness=1.5),
            hovertemplate=(f"<b>{label}</b><br>forgetting %{{x:+.1%}} (old task's score lost)<br>"
                           f"gain %{{y:+.1%}} (new task's score won)<br>{len(g)} run(s)<extra></extra>")))
    fig.add_vline(x=0, line=dict(color="#999", width=1))
    fig.update_xaxes(title=t("chart_forgetting_axis", metric=_metric_name(metric)), tickformat="+.0%", zeroline=False)
    fig.update_yaxes(title=t("chart_gain_axis", metric=_metric_name(metric)), tickformat="+.0%")
    return _layout(fig, t("chart_forgetting_title"),
                   {"labels": labels, "n_points": len(labels)})


def _bars(runs, panels: list[tuple[str, str, str]], title: str, empty: str) -> go.Figure:
    """Side-by-side bar panels, one bar per method (colour + pattern per method), error bars
    = std over seeds. panels: (column, subplot title, y axis title)."""
    agg = _without_baselines(aggregate_seeds(runs))
    agg = agg[agg[[c for c, _, _ in panels]].notna().any(axis=1)].reset_index(drop=True)
    if agg.empty:
        return empty_figure(empty)
    labels = _labels(agg)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t, _ in panels],
                        horizontal_spacing=0.1)
    for col_i, (col, _, ytitle) in enumerate(panels, start=1):
        for label, (_, r) in zip(labels, agg.iterrows()):
            colour, _ = method_style(r["method"])
            fig.add_trace(go.Bar(
                x=[label], y=[r[col]], name=label, marker_color=colour, showlegend=False,
                error_y=dict(type="data", array=_err([r[f"{col}_std"]]), visible=r["n_runs"] > 1),
                customdata=[[r["n_runs"], r[f"{col}_std"], r["memory_kind"] or "-"]],
                hovertemplate=(f"<b>{label}</b><br>%{{y:,.4g}} {ytitle}<br>"
                               f"{_spread(r['n_runs'], '%{customdata[1]:,.3g}')}<extra></extra>")), row=1, col=col_i)
        fig.update_yaxes(title=ytitle, row=1, col=col_i)
    fig.update_xaxes(tickangle=-45 if len(agg) > 6 else 0)
    return _layout(fig, title, {"n_methods": len(agg), "labels": labels}, legend=None)


def throughput(runs: pd.DataFrame | None) -> go.Figure:
    """Training and evaluation samples/s per method, grouped: the two bars of a method sit side
    by side under its name (train solid, eval hatched); error bars = std over seeds."""
    agg = _without_baselines(aggregate_seeds(runs))
    cols = ["train_samples_per_s", "eval_samples_per_s"]
    agg = agg[agg[cols].notna().any(axis=1)].reset_index(drop=True)
    if agg.empty:
        return empty_figure(t("chart_throughput_empty"))
    labels = _labels(agg)
    fig = go.Figure()
    for label, (_, r) in zip(labels, agg.iterrows()):
        colour, _ = method_style(r["method"])
        # A two-level axis (method, train/eval): the method name sits under its pair of bars,
        # so the reader needs no legend, and one trace per method keeps one colour per method.
        fig.add_trace(go.Bar(
            x=[[label, label], [t("chart_train"), t("chart_eval")]], y=[r[c] for c in cols], name=label,
            marker=dict(color=colour, pattern=dict(shape=["", "/"], fgcolor="white", size=8)),
            error_y=dict(type="data", array=_err([r[f"{c}_std"] for c in cols]), visible=r["n_runs"] > 1),
            customdata=[[r["n_runs"], r[f"{c}_std"]] for c in cols],
            hovertemplate=(f"<b>{label}</b> %{{x[1]}}<br>%{{y:,.1f}} samples/s "
                           f"{_spread(r['n_runs'], '%{customdata[1]:,.1f}')}<extra></extra>")))
    # overlay, not group: each (method, split) slot holds one bar; "group" would reserve a slot
    # for every method in every category and make the bars hairlines.
    fig.update_layout(barmode="overlay", bargap=0.15)
    fig.update_yaxes(title=t("chart_throughput_axis"))
    fig.update_xaxes(tickangle=0)
    return _layout(fig, t("chart_throughput_title"),
                   {"n_methods": len(agg), "labels": labels}, legend=None)


def memory_and_time(runs: pd.DataFrame | None) -> go.Figure:
    """Peak memory (MB) and wall time (s) per method, side by side."""
    succeeded = _succeeded(runs)
    kinds = sorted(set(succeeded["memory_kind"].dropna())) if "memory_kind" in succeeded else []
    # GPU allocator peaks and CPU process RSS measure different things (RSS includes the loaded
    # model and the Python heap): say which one the bars show, and warn when they are mixed.
    memory_title = t("chart_memory") + (
        f" ({t('memory_' + kinds[0], MEMORY_KINDS.get(kinds[0], kinds[0]))})" if len(kinds) == 1 else
        t("chart_memory_mixed") if len(kinds) > 1 else "")
    fig = _bars(runs, [("peak_memory_mb", memory_title, t("chart_memory_axis")),
                       ("wall_s", t("chart_wall"), t("chart_wall_axis"))],
                t("chart_memory_title"), t("chart_memory_empty"))
    if not fig.layout.meta.get("empty"):
        fig.layout.meta = {**fig.layout.meta, "memory_kinds": kinds}
    return fig


# -- Run tab ------------------------------------------------------------------------------------

def _run_styles(run_ids, runs: pd.DataFrame | None) -> dict[int, dict]:
    """Name, colour and dash per run: colour by method, dash by the seed's rank within it."""
    info = {}
    if runs is not None and len(runs) and "id" in runs:
        info = {int(r["id"]): r for _, r in runs.iterrows()}
    styles, seen = {}, {}
    for i, rid in enumerate(run_ids):
        r = info.get(int(rid))
        if r is None:
            styles[rid] = dict(name=f"run #{rid}", color=PALETTE[i % len(PALETTE)], dash="solid",
                               symbol=SYMBOLS[1 + i % (len(SYMBOLS) - 1)], group=f"run {rid}")
            continue
        method = str(r.get("method"))
        rank = seen.get(method, 0)
        seen[method] = rank + 1
        colour, symbol = method_style(method)
        seed = r.get("seed")
        seed_text = f" seed {int(seed)}" if seed is not None and not pd.isna(seed) else ""
        styles[rid] = dict(name=f"{method}{seed_text} (#{rid})", color=colour, dash=DASHES[rank % len(DASHES)],
                           symbol=symbol, group=method)
    return styles


def ema(values, smoothing: float) -> np.ndarray:
    """Exponential moving average with TensorBoard's debiasing: the first point is the first value,
    and each later one weighs the past by `smoothing` (0: the raw values)."""
    out, last, weight = [], 0.0, 0.0
    for v in np.asarray(values, dtype=float):
        last, weight = smoothing * last + (1 - smoothing) * v, smoothing * weight + (1 - smoothing)
        out.append(last / weight if weight else v)
    return np.asarray(out)


def _curves(frame: pd.DataFrame, y: str, runs, mode: str, smoothing: float = 0.0) -> go.Figure:
    frame = frame.dropna(subset=[y]).sort_values(["run_id", "step"])
    run_ids = [int(r) for r in frame["run_id"].unique()]
    styles = _run_styles(run_ids, runs)
    fig = go.Figure()
    for rid in run_ids:
        s, d = styles[rid], frame[frame["run_id"] == rid]
        fig.add_trace(go.Scatter(
            x=d["step"], y=ema(_num(d[y]), smoothing) if smoothing else _num(d[y]), name=s["name"], mode=mode,
            legendgroup=s["group"],
            line=dict(color=s["color"], dash=s["dash"], width=2),
            # A few symbols along each line: a second cue besides colour, without clutter.
            marker=dict(symbol=s["symbol"], color=s["color"], size=8, maxdisplayed=12)))
    fig.update_xaxes(title=t("chart_step_axis"))
    return fig


LOSS_SMOOTHING = 0.9  # the Compare tab's default: ~10 logged steps of memory; three methods' lines separate


def loss_curves(steps: pd.DataFrame | None, runs: pd.DataFrame | None = None,
                smoothing: float = LOSS_SMOOTHING) -> go.Figure:
    """Training loss against optimizer step, one line per run (all statuses: a running run's
    curve is the live view). Runs are named "<method> seed <s> (#id)" when `runs` is given.
    Each line is an exponential moving average (`smoothing`, 0 = the raw logged losses): a few
    methods' raw losses are noise on top of each other."""
    if steps is None or len(steps) == 0 or "loss" not in steps or steps["loss"].notna().sum() == 0:
        return empty_figure(t("chart_loss_empty"))
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    fig = _curves(steps, "loss", runs, "lines+markers", smoothing)
    fig.update_yaxes(title=t("chart_loss_axis"))
    title = t("chart_loss_title_smooth", smoothing=f"{smoothing:g}") if smoothing else t("chart_loss_title_raw")
    return _layout(fig, title, {"n_runs": len(fig.data), "smoothing": smoothing}, legend="below")


def eval_curves(evals: pd.DataFrame | None, metric: str | None = None, runs: pd.DataFrame | None = None,
                split: str = "validation") -> go.Figure:
    """A validation metric against optimizer step, one line per run (the final test evaluation
    is a different split and is left out unless split="test")."""
    metric = metric or score_metric(runs)
    # Runs evaluate on the validation split only with eval_every > 0 (the default evaluates once, on test).
    hint = (t("chart_eval_empty", split=t(f"split_{split}", split), metric=_metric_name(metric))
            if split != "validation" else t("chart_eval_empty_validation", metric=_metric_name(metric)))
    if evals is None or len(evals) == 0 or metric not in evals:
        return empty_figure(hint)
    frame = evals[evals["split"] == split] if "split" in evals else evals
    if frame[metric].notna().sum() == 0:
        return empty_figure(hint)
    fig = _curves(frame, metric, runs, "lines+markers")
    title = _metric_title(metric, split)
    fig.update_yaxes(title=title, tickformat=".0%" if metric in FRACTION_METRICS else None)
    return _layout(fig, t("chart_eval_title", title=title.split(" (")[0]), {"n_runs": len(fig.data), "metric": metric},
                   legend="below")


def confusion_heatmap(matrix, labels) -> go.Figure:
    """Confusion counts: rows = true label (first at the top), columns = predicted label."""
    z = np.asarray(matrix if matrix is not None else [], dtype=float)
    if z.ndim != 2 or z.size == 0:
        return empty_figure(t("chart_confusion_empty"))
    labels = [str(x) for x in labels] if labels is not None and len(labels) == z.shape[0] else \
        [str(i) for i in range(z.shape[0])]
    row_share = z / np.maximum(z.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, colorscale="Blues", texttemplate="%{z:,.0f}",
        textfont=dict(size=FONT_SIZE + 1), customdata=row_share, colorbar=dict(title=t("chart_count")),
        hovertemplate="true %{y}, predicted %{x}<br>%{z:,.0f} (%{customdata:.1%} of true %{y})<extra></extra>"))
    fig.update_xaxes(title=t("chart_predicted"), side="bottom", type="category")
    # Reversed so the matrix reads like the printed one: first label top-left.
    fig.update_yaxes(title=t("chart_true"), autorange="reversed", type="category")
    accuracy = float(np.trace(z) / z.sum()) if z.sum() else math.nan
    return _layout(fig, t("chart_confusion_title", n=f"{z.sum():,.0f}", accuracy=f"{accuracy:.1%}"),
                   {"shape": list(z.shape)}, legend=None)
