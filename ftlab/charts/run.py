"""The Run tab's figures (and Compare's curves): training loss and validation metrics against the
step, one line per run, and the confusion matrix."""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ftlab.charts.aggregate import _num, runs_task, score_metric
from ftlab.charts.settings import flat_configs, run_name
from ftlab.charts.style import (DASHES, fraction_ticks, FONT_SIZE, FRACTION_METRICS, PALETTE, SYMBOLS, _layout, _metric_name,
                                _metric_title, empty_figure, figure, layout_dict, method_style, thin)
from ftlab.text import t


MAX_LINE_POINTS = 500  # points a run's line in the loss and evaluation curves is drawn with: more are not seen


def _run_styles(run_ids, runs: pd.DataFrame | None) -> dict[int, dict]:
    """Name, colour and dash per run: colour by method, dash by the seed's rank within it."""
    info, configs = {}, {}
    if runs is not None and len(runs) and "id" in runs:
        # only the runs drawn: `runs` may hold thousands
        mine = runs[runs["id"].isin([int(r) for r in run_ids])]
        ids = [int(i) for i in mine["id"]]
        info = dict(zip(ids, mine.to_dict("records")))
        configs = dict(zip(ids, flat_configs(mine)))
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
        styles[rid] = dict(name=f"{run_name(method, configs.get(int(rid)))}{seed_text} (#{rid})", color=colour, dash=DASHES[rank % len(DASHES)],
                           symbol=symbol, group=method)
    return styles


def ema(values, smoothing: float) -> np.ndarray:
    """Exponential moving average with TensorBoard's debiasing: the first point is the first value,
    and each later one weighs the past by `smoothing` (0: the raw values). The debiased average
    is pandas' adjusted exponentially weighted mean with alpha = 1 - smoothing."""
    values = np.asarray(values, dtype=float)
    if smoothing == 0 or len(values) == 0:
        return values.copy()
    return pd.Series(values).ewm(alpha=1 - smoothing, adjust=True).mean().to_numpy()


def _curves(frame: pd.DataFrame, y: str, runs, mode: str, smoothing: float = 0.0) -> tuple[list[dict], int]:
    """One line per run (at most MAX_LINE_POINTS points each, evenly spread, its first and last
    among them; the moving average is taken over every logged point first), and the most points
    a line got."""
    frame = frame.dropna(subset=[y]).sort_values(["run_id", "step"])
    run_ids = [int(r) for r in frame["run_id"].unique()]
    styles = _run_styles(run_ids, runs)
    data, most = [], 0
    steps, values = frame["step"].to_numpy(dtype=np.int64), _num(frame[y]).to_numpy()
    bounds = np.flatnonzero(np.diff(frame["run_id"].to_numpy(dtype=np.int64))) + 1
    for rid, x, v in zip(run_ids, np.split(steps, bounds), np.split(values, bounds)):
        s = styles[rid]
        v = ema(v, smoothing) if smoothing else v
        keep = thin(len(x), MAX_LINE_POINTS)
        most = max(most, len(keep))
        data.append(dict(
            type="scatter", x=x[keep], y=np.asarray(v[keep], dtype=float), name=s["name"], mode=mode,
            legendgroup=s["group"],
            line=dict(color=s["color"], dash=s["dash"], width=2),
            # A few symbols along each line: a second cue besides colour, without clutter.
            marker=dict(symbol=s["symbol"], color=s["color"], size=8, maxdisplayed=12)))
    return data, most


# A y-axis title's line, in columns (a CJK character is two): about the height of a 380 px chart's
# plot area. The tabs word-wrap titles with spaces (English) to 28 characters as well.
AXIS_TITLE_COLUMNS = 28


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit_axis_title(title: str) -> str:
    """A y-axis title in wide (CJK) characters, broken into lines of at most AXIS_TITLE_COLUMNS
    columns: before a full-width parenthesis, else after a full-width comma, else anywhere. Such
    text has no spaces to wrap at, and one line of it is taller than the plot area and runs up
    into the chart's title. A title without wide characters is returned as it is."""
    if "<br>" in title or _columns(title) <= AXIS_TITLE_COLUMNS or _columns(title) == len(title):
        return title
    pieces = []
    for part in re.split(r"(?=（)", title):
        pieces += [p for p in re.split(r"(?<=[，、；])", part) if p] if _columns(part) > AXIS_TITLE_COLUMNS else [part]
    lines, line = [], ""
    for piece in pieces:
        for ch in (piece if _columns(piece) > AXIS_TITLE_COLUMNS else [piece]):
            if line and _columns(line + ch) > AXIS_TITLE_COLUMNS:
                lines.append(line)
                line = ""
            line += ch
    return "<br>".join(lines + [line])


def _title_above(fig: go.Figure) -> go.Figure:
    """The chart's title at the top edge of the figure, clear of a y-axis title taller than the
    plot area (which centres on the plot area and runs up into the top margin)."""
    fig.update_layout(title=dict(yref="container", y=1, yanchor="top", pad=dict(t=12)))
    return fig


def _curve_layout(title: str, y_title: str, meta: dict) -> dict:
    """A curve chart's layout (loss, evaluation): steps along x, the legend right, the title above
    (as _title_above places it)."""
    layout = layout_dict(title, meta, legend="right")
    layout["title"].update(yref="container", y=1, yanchor="top", pad=dict(t=12))
    layout.update(xaxis=dict(title=dict(text=t("chart_step_axis"))), yaxis=dict(title=dict(text=y_title)))
    return layout


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
    data, most = _curves(steps, "loss", runs, "lines+markers", smoothing)
    title = t("chart_loss_title_smooth", smoothing=f"{smoothing:g}") if smoothing else t("chart_loss_title_raw")
    return figure(data, _curve_layout(title, fit_axis_title(t("chart_loss_axis")),
                                      {"n_runs": len(data), "smoothing": smoothing, "max_points": most}))


def eval_curves(evals: pd.DataFrame | None, metric: str | None = None, runs: pd.DataFrame | None = None,
                split: str = "validation") -> go.Figure:
    """A validation metric against optimizer step, one line per run (the final test evaluation
    is a different split and is left out unless split="test")."""
    metric = metric or score_metric(runs)
    task = runs_task(runs)
    # Runs evaluate on the validation split only with eval_every > 0 (the default evaluates once, on test).
    hint = (t("chart_eval_empty", split=t(f"split_{split}", split), metric=_metric_name(metric, task))
            if split != "validation" else t("chart_eval_empty_validation", metric=_metric_name(metric, task)))
    if evals is None or len(evals) == 0 or metric not in evals:
        return empty_figure(hint)
    frame = evals[evals["split"] == split] if "split" in evals else evals
    if frame[metric].notna().sum() == 0:
        return empty_figure(hint)
    data, most = _curves(frame, metric, runs, "lines+markers")
    title = _metric_title(metric, split, task)
    fig = figure(data, _curve_layout(t("chart_eval_title", title=title.split(" (")[0]), fit_axis_title(title),
                                     {"n_runs": len(data), "metric": metric, "max_points": most}))
    if metric in FRACTION_METRICS:
        fraction_ticks(fig, frame[metric])
    return fig


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
