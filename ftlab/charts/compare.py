"""The Compare tab's figures: score against trainable parameters with the Pareto frontier and the
baselines, the learning curve, forgetting, throughput, and memory and time."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ftlab.charts.aggregate import (_num, _succeeded, _without_baselines, aggregate_seeds, baseline_methods,
                                    curve_points, pareto_frontier, score_metric)
from ftlab.charts.settings import GROUP, _labels, _short, budget_text, flat_configs, group_title
from ftlab.charts.style import (BASELINE_STYLE, FONT_SIZE, FRACTION_METRICS, FRONTIER_COLOR, MEMORY_KINDS, _ONE_SEED,
                                _err, _layout, _metric_name, _metric_title, _score_format, _spread, empty_figure,
                                method_style)
from ftlab.text import t

MAX_PANELS = 9  # comparable groups drawn as panels of one chart; more: choose fewer experiments
LEGEND_RIGHT_MAX = 12  # legend entries that fit beside a chart; more go below it, in rows


def add_baseline_lines(fig: go.Figure, agg: pd.DataFrame, fmt: str, row=None, col=None, shown: set | None = None
                       ) -> list[str]:
    """A horizontal line per baseline row of `agg` (aggregate_seeds), in the panel (row, col) of a
    figure of several; returns the labels. Each label ("majority class: 42.5%") is a legend entry,
    not text on the plot, so labels never print over each other or the points; `shown` (the
    labels already in the legend) keeps one entry per label. The model and dataset go into the
    label when `agg` holds more than one pair."""
    rows = agg[agg["method"].isin(baseline_methods()) & np.isfinite(agg["mean"].astype(float))]
    mixed = agg[["model", "dataset"]].drop_duplicates().shape[0] > 1
    shown = set() if shown is None else shown
    labels = []
    for _, r in rows.iterrows():
        colour, dash = BASELINE_STYLE.get(r["method"], ("#555555", "dashdot"))
        where = f" · {r['model']}, {r['dataset']}" if mixed else ""
        name = t("chart_majority") if r["method"] == "majority" else r["method"]
        label = f"{name}{where}: {r['mean']:{fmt}}"
        line = dict(color=colour, dash=dash, width=2)
        fig.add_hline(y=r["mean"], line=line, row=row, col=col)
        if label not in shown:  # the legend entry that names the line
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=line, name=label, legendgroup=label,
                                     hoverinfo="skip"), row=row, col=col)
            shown.add(label)
        labels.append(label)
    return labels


def _panels(n: int) -> tuple[int, int]:
    """(rows, columns) of small multiples for n comparable groups: side by side up to 3, then rows."""
    cols = 1 if n == 1 else 2 if n in (2, 4) else 3
    return math.ceil(n / cols), cols


def score_vs_params(runs: pd.DataFrame | None, metric: str | None = None,
                    reference: pd.DataFrame | None = None) -> go.Figure:
    """Seed-averaged score against trainable parameters (log x), one point per method setting, in
    one panel per comparable group (model x dataset x budget, settings.GROUP): runs of different
    budgets or data are never on one axis.

    Error bars are 95% CIs over seeds; the grey step line is each group's Pareto frontier (a step,
    since the best score reachable within a parameter budget stays flat until the next frontier
    point); full fine-tuning is a large star with an annotation; the baselines are dashed lines
    named in the legend."""
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
    groups = list(agg.groupby(GROUP, dropna=False, sort=False))
    shown_groups, hidden = groups[:MAX_PANELS], max(0, len(groups) - MAX_PANELS)
    # a panel's title says what sets its group apart from the others (the budget, say), not what all share
    varying = [i for i, col in enumerate(GROUP) if agg[col].fillna(-1).nunique() > 1]
    titles = [" · ".join(budget_text(key[i]) if GROUP[i] == "budget" else str(key[i]) for i in varying)
              for key, _ in shown_groups]
    n_rows, n_cols = _panels(len(shown_groups))
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=titles if len(groups) > 1 else None,
                        shared_yaxes="all", horizontal_spacing=0.06, vertical_spacing=0.16 if n_rows > 1 else 0.1)
    fig.update_annotations(font_size=FONT_SIZE)  # the panel titles
    in_legend: set = set()
    frontiers, labels, baselines, n_refs = [], [], [], 0
    for i, (key, group) in enumerate(shown_groups):
        row, col = i // n_cols + 1, i % n_cols + 1
        seen: set = set()
        # in a panel, a setting is named within its group (the panel's title says the group): the
        # legend holds "lora (tuned: ...)", not the model, data and budget again
        group = group.assign(short=_labels(group.drop(columns=["label"])))
        for _, r in group.iterrows():
            colour, symbol = method_style(r["method"])
            if r["method"] in seen:  # a method's further settings in this group: same colour, open marker
                symbol = f"{symbol}-open"
            seen.add(r["method"])
            full = r["method"] == "full"
            fig.add_trace(go.Scatter(
                x=[r["trainable_params"]], y=[r["mean"]], name=r["short"], mode="markers", legendgroup=r["short"],
                showlegend=r["short"] not in in_legend,
                marker=dict(color=colour, symbol=symbol, size=20 if full else 13, line=dict(width=1, color="white")),
                error_y=dict(type="data", array=_err([r["ci95"]]), visible=r["n"] > 1, thickness=1.5, width=6),
                customdata=[[r["n"], r["std"], r["ci95"]]],
                hovertemplate=(f"<b>{r['label']}</b><br>{group_title(*key)}<br>%{{x:,.0f}} {t('chart_trainable_hover')}<br>"
                               + (f"mean %{{y:{fmt}}} ± %{{customdata[2]:{fmt}}} (95% CI)<br>"
                                  f"std %{{customdata[1]:{fmt}}}, n = %{{customdata[0]}}" if r["n"] > 1 else
                                  f"%{{y:{fmt}}}, {_ONE_SEED}") + "<extra></extra>")), row=row, col=col)
            in_legend.add(r["short"])
            labels.append(r["label"])
        front = pareto_frontier(group)
        frontiers += list(front["label"])
        fig.add_trace(go.Scatter(
            x=front["trainable_params"], y=front["mean"], mode="lines", line_shape="hv",
            line=dict(color=FRONTIER_COLOR, dash="dash", width=2), name=t("chart_frontier"), legendgroup="frontier",
            hoverinfo="skip", showlegend=i == 0), row=row, col=col)
        for _, r in group[group["method"] == "full"].iterrows():
            # Annotations on a log axis take log10(x).
            # below-left of the star: above it the note would run into the panel's title
            fig.add_annotation(x=math.log10(r["trainable_params"]), y=r["mean"], text=t("chart_full_ft"),
                               showarrow=True, arrowhead=2, ax=-70, ay=35, font=dict(size=FONT_SIZE), row=row, col=col)
        model, dataset, budget = key
        lines = every[(every["model"] == model) & (every["dataset"] == dataset)]
        same_budget = lines[lines["budget"].fillna(-1) == (-1 if budget != budget else budget)]
        # a baseline of this group's budget, else the pair's (a zero-shot run trains on nothing)
        lines = same_budget if same_budget["method"].isin(baseline_methods()).any() else lines
        baselines += [b for b in add_baseline_lines(fig, lines, fmt, row, col, in_legend) if b not in baselines]
        if reference is not None and len(reference) and i == 0:
            for source, ref in reference.groupby("source", sort=False):
                styles = [method_style(m) for m in ref["method"]]
                fig.add_trace(go.Scatter(
                    x=ref["trainable_params"], y=ref["score"], mode="markers+text", name=f"published: {source}",
                    text=[f"{m} (paper)" for m in ref["method"]], textposition="top center",
                    textfont=dict(size=FONT_SIZE - 1, color="#555"),
                    marker=dict(color=[c for c, _ in styles], symbol=[f"{s}-open" for _, s in styles],
                                size=13, line=dict(width=2)),
                    hovertemplate=f"<b>%{{text}}</b><br>{source}<br>%{{x:,.0f}} trainable params<br>"
                                  f"%{{y:{fmt}}}<extra></extra>"), row=row, col=col)
                n_refs += len(ref)
    # dtick=1: one label per decade (1k, 10k, ...); the default 2/5 minor labels print small.
    fig.update_xaxes(type="log", dtick=1, tickformat="~s")
    for c in range(1, n_cols + 1):  # the axis titles once: x under the bottom row, y left of the first column
        fig.update_xaxes(title=t("chart_trainable_axis"), row=n_rows, col=c)
    fig.update_yaxes(tickformat=".0%" if metric in FRACTION_METRICS else None)
    fig.update_yaxes(title=_metric_title(metric), col=1)
    title = t("chart_score_title", metric=_metric_title(metric).split(" (")[0])
    if hidden:
        title += " " + t("chart_more_groups", "({n} more groups: choose fewer experiments)", n=hidden)
    fig = _layout(fig, title, {"metric": metric, "n_points": len(agg), "labels": labels,
                               "frontier": frontiers, "full_ft": bool((agg["method"] == "full").any()),
                               "n_references": n_refs, "baselines": baselines, "groups": titles, "rows": n_rows,
                               "hidden_groups": hidden}, legend="below" if len(in_legend) > LEGEND_RIGHT_MAX else "right")
    return fig


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
        k = [f.get("method_options.shots", 4) for f in flat_configs(shots)]
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
        x, y = 100 * _num(g["forgetting"]), 100 * _num(g["new_task_gain"])  # in points, as the axes say
        label = f"{method} ({model}, {pair})" if mixed else method
        labels.append(label)
        fig.add_trace(go.Scatter(
            x=[x.mean()], y=[y.mean()], mode="markers+text", name=label, text=[method], textposition="top center",
            marker=dict(color=colour, symbol=symbol, size=16 if method == "full" else 13, line=dict(width=1, color="white")),
            error_x=dict(type="data", symmetric=False, array=[x.max() - x.mean()], arrayminus=[x.mean() - x.min()],
                         visible=len(g) > 1, thickness=1.5),
            error_y=dict(type="data", symmetric=False, array=[y.max() - y.mean()], arrayminus=[y.mean() - y.min()],
                         visible=len(g) > 1, thickness=1.5),
            hovertemplate=(f"<b>{label}</b><br>forgetting %{{x:+.1f}} points (old task's score lost)<br>"
                           f"gain %{{y:+.1f}} points (new task's score won)<br>{len(g)} run(s)<extra></extra>")))
    fig.add_vline(x=0, line=dict(color="#999", width=1))
    # ticks in points with a decimal where the spread is small: never "+16% +16% +17%"
    fig.update_xaxes(title=t("chart_forgetting_axis", metric=_metric_name(metric)), tickformat="+.1f", zeroline=False)
    fig.update_yaxes(title=t("chart_gain_axis", metric=_metric_name(metric)), tickformat="+.1f")
    return _layout(fig, t("chart_forgetting_title"),
                   {"labels": labels, "n_points": len(labels)})


BAR_PX = 24  # height of one setting's row in the horizontal bar charts


def _bar_labels(agg: pd.DataFrame) -> list[str]:
    """A setting's name on a bar chart's axis: what tells its comparable group apart from the
    others in the chart (dataset, model, budget: only those that vary), then the method and its
    variant within the group ("256 ex · lora (tuned: lr=0.0035, r=16)")."""
    parts = []
    for col, text in (("dataset", str), ("model", str), ("budget", lambda b: budget_text(b))):
        if col in agg and agg[col].fillna(-1).nunique() > 1:
            parts.append([text(v) for v in agg[col]])
    inner = []
    for _, group in agg.groupby(GROUP, dropna=False, sort=False):
        inner += list(zip(group.index, _labels(group)))
    inner_by_index = dict(inner)
    return [" · ".join([p[i] for p in parts] + [inner_by_index[idx]]) for i, idx in enumerate(agg.index)]


def _hbars(runs, panels: list[tuple[str, str, str]], title: str, empty: str, patterns: bool = False) -> go.Figure:
    """Horizontal bars, one row per setting (its name on the y axis, however long), one panel per
    column of `panels` ((column, panel title, x axis title)) sharing the rows; colour per method,
    error bars = std over seeds. With `patterns`, the panels are drawn as grouped bars of one panel
    instead (train solid, eval hatched)."""
    agg = _without_baselines(aggregate_seeds(runs))
    agg = agg[agg[[c for c, _, _ in panels]].notna().any(axis=1)].reset_index(drop=True)
    if agg.empty:
        return empty_figure(empty)
    labels = _bar_labels(agg)
    colours = [method_style(m)[0] for m in agg["method"]]
    n_panels = 1 if patterns else len(panels)
    fig = make_subplots(rows=1, cols=n_panels, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=None if patterns else [p for _, p, _ in panels])
    for i, (col, name, xtitle) in enumerate(panels):
        where = dict(row=1, col=1 if patterns else i + 1)
        fig.add_trace(go.Bar(
            y=labels, x=agg[col], orientation="h", name=name, showlegend=patterns,
            marker=dict(color=colours, pattern=dict(shape="/" if patterns and i else "", fgcolor="white", size=6)),
            error_x=dict(type="data", array=_err(agg[f"{col}_std"]), visible=bool((agg["n_runs"] > 1).any()),
                         thickness=1.2, width=3),
            customdata=[[f"± {sd:,.3g} std, n = {n}" if n > 1 and sd == sd else _ONE_SEED]
                        for n, sd in zip(agg["n_runs"], agg[f"{col}_std"])],
            hovertemplate=f"<b>%{{y}}</b><br>%{{x:,.4g}} {xtitle}<br>%{{customdata[0]}}<extra>{name}</extra>"),
            **where)
        fig.update_xaxes(title=xtitle, **where)
    fig.update_yaxes(autorange="reversed", automargin=True, tickfont=dict(size=FONT_SIZE - 1))
    if patterns:
        fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    rows = len(agg) * (2 if patterns else 1)
    fig = _layout(fig, title, {"n_methods": len(agg), "labels": labels, "height": 150 + BAR_PX * rows},
                  legend="right" if patterns else None)
    fig.update_layout(margin=dict(l=10))
    return fig


def throughput(runs: pd.DataFrame | None) -> go.Figure:
    """Training and evaluation samples/s per setting, as horizontal bars side by side (train solid,
    eval hatched); error bars = std over seeds."""
    return _hbars(runs, [("train_samples_per_s", t("chart_train"), t("chart_throughput_axis")),
                         ("eval_samples_per_s", t("chart_eval"), t("chart_throughput_axis"))],
                  t("chart_throughput_title"), t("chart_throughput_empty"), patterns=True)


def memory_and_time(runs: pd.DataFrame | None) -> go.Figure:
    """Peak memory (MB) and wall time (s) per method, side by side."""
    succeeded = _succeeded(runs)
    kinds = sorted(set(succeeded["memory_kind"].dropna())) if "memory_kind" in succeeded else []
    # GPU allocator peaks and CPU process RSS measure different things (RSS includes the loaded
    # model and the Python heap): say which one the bars show, and warn when they are mixed.
    memory_title = (
        f" ({t('memory_' + kinds[0], MEMORY_KINDS.get(kinds[0], kinds[0]))})" if len(kinds) == 1 else
        t("chart_memory_mixed") if len(kinds) > 1 else "")
    fig = _hbars(runs, [("peak_memory_mb", t("chart_memory"), t("chart_memory_axis") + memory_title),
                        ("wall_s", t("chart_wall"), t("chart_wall_axis"))],
                 t("chart_memory_title"), t("chart_memory_empty"))
    if not fig.layout.meta.get("empty"):
        fig.layout.meta = {**fig.layout.meta, "memory_kinds": kinds}
    return fig

