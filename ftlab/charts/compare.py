"""The Compare tab's figures: score against trainable parameters with the Pareto frontier and the
baselines, the learning curve, forgetting, throughput, and memory and time.

Figures are built from plain dicts (style.figure: no per-property validation), one trace per
method where a chart allows it (each point named in its hover), and cap what a reader cannot take
in: MAX_PANELS groups, MAX_BAR_ROWS settings a bar chart, MAX_CURVE_SETTINGS learning curves, the
most recent ones, with the count of the others in the title."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ftlab.charts.aggregate import (_num, _succeeded, _without_baselines, aggregate_seeds, baseline_methods,
                                    curve_points, frontier_positions, runs_task, score_metric)
from ftlab.charts.settings import GROUP, _labels, _short, budget_text, flat_configs, group_title, label_list
from ftlab.charts.style import (BASELINE_STYLE, FONT_SIZE, FRACTION_METRICS, FRONTIER_COLOR, MEMORY_KINDS, one_seed,
                                _err, _metric_name, _metric_title, _score_format, axis_key, axis_names, clamped_range,
                                decades, empty_figure, figure, floats, grid, layout_dict, method_style, set_ranges)
from ftlab.text import t

MAX_PANELS = 9  # comparable groups drawn as panels of one chart; more: choose fewer experiments
LEGEND_RIGHT_MAX = 12  # legend entries that fit beside a chart; more go below it, in rows
MAX_BAR_ROWS = 40  # settings (rows) a bar chart draws: the most recent ones
MAX_CURVE_SETTINGS = 24  # learning curves (a method's setting over sizes) one chart draws: the most recent ones


def _recent(frame: pd.DataFrame, most: int) -> tuple[pd.DataFrame, int]:
    """The `most` rows of `frame` with the newest runs (column last_run), in their order, and how
    many were left out."""
    if len(frame) <= most:
        return frame, 0
    keep = frame["last_run"].astype(float).nlargest(most, keep="first").index
    return frame.loc[frame.index.isin(keep)], len(frame) - most


def _baseline_records(agg: pd.DataFrame) -> list[dict]:
    """The baseline rows of `agg` (aggregate_seeds) with a score, as dicts: method, model, dataset, budget, mean."""
    rows = agg[agg["method"].isin(baseline_methods())]
    return [r for r in rows[["method", "model", "dataset", "budget", "mean"]].to_dict("records")
            if r["mean"] is not None and np.isfinite(float(r["mean"]))]


def _baselines(rows: list[dict], fmt: str, axes: tuple[str, str] = ("x", "y"), shown: set | None = None
               ) -> tuple[list[dict], list[dict], list[str]]:
    """(shapes, traces, labels) of baseline rows (_baseline_records) in the panel whose axes are
    `axes`: a horizontal line across the panel per baseline, and a legend entry per label not yet
    in `shown` (which it updates). The model and dataset go into the label when the rows hold more
    than one pair."""
    mixed = len({(r["model"], r["dataset"]) for r in rows}) > 1
    shown = set() if shown is None else shown
    shapes, traces, labels = [], [], []
    xref, yref = axes
    for r in rows:
        colour, dash = BASELINE_STYLE.get(r["method"], ("#555555", "dashdot"))
        where = (f" · {r['model']}, {r['dataset']}" if mixed else "") + (f" ({r['note']})" if r.get("note") else "")
        name = t("chart_majority") if r["method"] == "majority" else r["method"]
        label = f"{name}{where}: {r['mean']:{fmt}}"
        line = dict(color=colour, dash=dash, width=2)
        # what fig.add_hline(row=, col=) adds, without its search through every subplot
        y = float(r["mean"])
        shapes.append(dict(type="line", xref=f"{xref} domain", x0=0, x1=1, yref=yref, y0=y, y1=y, line=line))
        if label not in shown:  # the legend entry that names the line
            traces.append(dict(type="scatter", x=[None], y=[None], mode="lines", line=line, name=label,
                               legendgroup=label, hoverinfo="skip", xaxis=xref, yaxis=yref))
            shown.add(label)
        labels.append(label)
    return shapes, traces, labels


def _panels(n: int) -> tuple[int, int]:
    """(rows, columns) of small multiples for n comparable groups: side by side up to 3, then rows."""
    cols = 1 if n == 1 else 2 if n in (2, 4) else 3
    return math.ceil(n / cols), cols


def _array(values: list, ids: list[int]) -> np.ndarray:
    """values[i] for i in ids, as floats (NaN where missing)."""
    return np.array([values[i] for i in ids], dtype=float)


def score_vs_params(runs: pd.DataFrame | None, metric: str | None = None,
                    reference: pd.DataFrame | None = None) -> go.Figure:
    """Seed-averaged score against trainable parameters (log x), one point per method setting, in
    one panel per comparable group (model x dataset x budget, settings.GROUP): runs of different
    budgets or data are never on one axis.

    Error bars are 95% CIs over seeds; the grey step line is each group's Pareto frontier (a step,
    since the best score reachable within a parameter budget stays flat until the next frontier
    point); full fine-tuning is a large star with an annotation; the baselines are dashed lines
    named in the legend. A panel draws each method as one series (its legend entry), its further
    settings with open markers; each point's hover names its setting."""
    metric = metric or score_metric(_succeeded(runs))
    task = runs_task(_succeeded(runs))
    every = aggregate_seeds(runs, metric)
    # A log axis cannot place 0 or a missing parameter count; such methods are left out (the
    # baselines, which train nothing, are drawn as horizontal lines instead).
    # plain lists from here: a panel's few hundred points cost less as Python than as pandas calls
    keep = (np.isfinite(every["mean"].astype(float)) & (every["trainable_params"].astype(float) > 0)).to_numpy()
    col = {c: [v for v, k in zip(every[c].tolist(), keep) if k]
           for c in ("model", "dataset", "budget", "method", "variant", "mean", "trainable_params", "n", "std", "ci95")}
    if not col["method"]:
        return empty_figure(t("chart_no_score", metric=_metric_name(metric, task)))
    all_labels = label_list(col["method"], col["model"], col["dataset"], col["budget"], col["variant"])
    fmt = _score_format(metric)
    members: dict = {}
    for i, key in enumerate(zip(col["model"], col["dataset"], col["budget"])):
        members.setdefault(key[:2] + (-1.0 if key[2] != key[2] else key[2],), (key, []))[1].append(i)
    groups = list(members.values())
    shown_groups, hidden = groups[:MAX_PANELS], max(0, len(groups) - MAX_PANELS)
    # a panel's title says what sets its group apart from the others (the budget, say), not what all share
    varying = [i for i, c in enumerate(GROUP) if len({-1 if v != v else v for v in col[c]}) > 1]
    titles = [" · ".join(budget_text(key[i]) if GROUP[i] == "budget" else str(key[i]) for i in varying)
              for key, _ in shown_groups]
    n_rows, n_cols = _panels(len(shown_groups))
    layout = grid(n_rows, n_cols, titles if len(groups) > 1 else None, shared_yaxes="all",
                  horizontal_spacing=0.06, vertical_spacing=0.16 if n_rows > 1 else 0.1)
    data, shapes, notes = [], [], list(layout.pop("annotations", []))
    in_legend: set = set()
    frontiers, labels, baselines, n_refs = [], [], [], 0
    baseline_rows = _baseline_records(every)
    trainable = t("chart_trainable_hover")
    with_ci = (f"mean %{{y:{fmt}}} ± %{{customdata[2]:{fmt}}} (95% CI)<br>"
               f"std %{{customdata[1]:{fmt}}}, n = %{{customdata[0]}}")
    for p, (key, idx) in enumerate(shown_groups):
        xa, ya = axis_names(p + 1)
        # in a panel, a setting is named within its group (the panel's title says the group): the
        # hover says "lora (tuned: ...)", not the model, data and budget again
        short = dict(zip(idx, label_list(*([col[c][i] for i in idx]
                                           for c in ("method", "model", "dataset", "budget", "variant")))))
        where = group_title(*key)
        series: dict = {}
        seen: set = set()
        for i in idx:
            method = col["method"][i]
            # a method's further settings in this group: the same colour, an open marker
            series.setdefault((method, col["n"][i] > 1, method in seen), []).append(i)
            seen.add(method)
        for (method, has_ci, further), ids in series.items():
            colour, symbol = method_style(method)
            # numbers as arrays (sent packed), each point's setting named in its hover text
            data.append(dict(
                type="scatter", x=_array(col["trainable_params"], ids), y=_array(col["mean"], ids), name=method,
                mode="markers", legendgroup=method, showlegend=method not in in_legend, xaxis=xa, yaxis=ya,
                marker=dict(color=colour, symbol=f"{symbol}-open" if further else symbol,
                            size=20 if method == "full" else 13, line=dict(width=1, color="white")),
                error_y=dict(type="data", array=np.nan_to_num(_array(col["ci95"], ids)), visible=bool(has_ci),
                             thickness=1.5, width=6),
                customdata=np.array([[col["n"][i], col["std"][i], col["ci95"][i]] for i in ids], dtype=float),
                hovertext=[short[i] for i in ids],
                hovertemplate=(f"<b>%{{hovertext}}</b><br>{where}<br>%{{x:,.0f}} {trainable}<br>"
                               + (with_ci if has_ci else f"%{{y:{fmt}}}, {one_seed()}") + "<extra></extra>")))
            in_legend.add(method)
        labels += [all_labels[i] for i in idx]
        front = [idx[k] for k in frontier_positions([col["trainable_params"][i] for i in idx],
                                                    [col["mean"][i] for i in idx])]
        frontiers += [all_labels[i] for i in front]
        data.append(dict(type="scatter", x=floats(col["trainable_params"][i] for i in front),
                         y=floats(col["mean"][i] for i in front), mode="lines",
                         line=dict(color=FRONTIER_COLOR, dash="dash", width=2, shape="hv"), name=t("chart_frontier"),
                         legendgroup="frontier", hoverinfo="skip", showlegend=p == 0, xaxis=xa, yaxis=ya))
        fulls = [i for i in idx if col["method"][i] == "full"]
        if fulls:
            # one note a panel, at full fine-tuning's default setting (else its best); annotations on
            # a log axis take log10(x); below-left of the star: above it the note would run into
            # the panel's title
            r = next((i for i in fulls if col["variant"][i] == ""), max(fulls, key=lambda i: col["mean"][i]))
            notes.append(dict(x=math.log10(col["trainable_params"][r]), y=float(col["mean"][r]), xref=xa, yref=ya,
                              text=t("chart_full_ft"), showarrow=True, arrowhead=2, ax=-70, ay=35,
                              font=dict(size=FONT_SIZE)))
        model, dataset, budget = key
        lines = [r for r in baseline_rows if r["model"] == model and r["dataset"] == dataset]
        same_budget = [r for r in lines if (r["budget"] == budget) or (r["budget"] != r["budget"] and budget != budget)]
        # a baseline of this group's budget, else the pair's, each labelled with the budget it had
        lines = same_budget or [{**r, "note": budget_text(r["budget"])} for r in lines]
        more_shapes, traces, found = _baselines(lines, fmt, (xa, ya), in_legend)
        shapes += more_shapes
        data += traces
        baselines += [b for b in found if b not in baselines]
        if reference is not None and len(reference) and p == 0:
            for source, ref in reference.groupby("source", sort=False):
                styles = [method_style(m) for m in ref["method"]]
                data.append(dict(
                    type="scatter", x=floats(ref["trainable_params"]), y=floats(ref["score"]), mode="markers+text",
                    name=f"published: {source}", text=[f"{m} (paper)" for m in ref["method"]],
                    textposition="top center", textfont=dict(size=FONT_SIZE - 1, color="#555"),
                    marker=dict(color=[c for c, _ in styles], symbol=[f"{s}-open" for _, s in styles],
                                size=13, line=dict(width=2)), xaxis=xa, yaxis=ya,
                    hovertemplate=f"<b>%{{text}}</b><br>{source}<br>%{{x:,.0f}} {t('chart_trainable_hover')}<br>"
                                  f"%{{y:{fmt}}}<extra></extra>"))
                n_refs += len(ref)
    for k in range(1, n_rows * n_cols + 1):
        xa, ya = (axis_key(a) for a in axis_names(k))
        # dtick=1: one label per decade (1k, 10k, ...); the default 2/5 minor labels print small.
        layout[xa] = {**layout.get(xa, {}), "type": "log", "dtick": 1, "tickformat": "~s"}
        if k > (n_rows - 1) * n_cols:  # the axis titles once: x under the bottom row, y left of the first column
            layout[xa]["title"] = dict(text=t("chart_trainable_axis"))
        layout[ya] = {**layout.get(ya, {}), **({"tickformat": ".0%"} if metric in FRACTION_METRICS else {})}
        if (k - 1) % n_cols == 0:
            layout[ya]["title"] = dict(text=_metric_title(metric, task=task))
    title = t("chart_score_title", metric=_metric_title(metric, task=task).split(" (")[0])
    if hidden:
        title += " " + t("chart_more_groups", "({n} more groups: choose fewer experiments)", n=hidden)
    layout.update(layout_dict(title, {
        "metric": metric, "n_points": len(col["method"]), "labels": labels, "frontier": frontiers,
        "full_ft": "full" in col["method"], "n_references": n_refs, "baselines": baselines,
        "groups": titles, "rows": n_rows, "hidden_groups": hidden},
        legend="below" if len(in_legend) > LEGEND_RIGHT_MAX else "right"))
    layout["shapes"], layout["annotations"] = shapes, notes
    # whole decades on x; a score axis inside 0-100% that keeps every point, its interval where it
    # fits, and the baselines in view (the scores to beat)
    xs = [v for trace in data for v in trace["x"]]
    ys = [(y - e, y + e) for trace in data if trace.get("error_y") for y, e in zip(trace["y"], trace["error_y"]["array"])]
    ys += [(y, y) for trace in data if not trace.get("error_y") for y in trace["y"]]
    ys += [(shape["y0"], shape["y0"]) for shape in shapes]
    set_ranges(layout, decades(xs), clamped_range([a for a, _ in ys], [b for _, b in ys])
               if metric in FRACTION_METRICS else None)
    return figure(data, layout)


def learning_curve(runs: pd.DataFrame | None, metric: str | None = None) -> go.Figure:
    """Test score against the number of training examples (log x): a line per method setting through
    the seed means, a band from the lowest to the highest seed, for every method run at 2 or
    more sizes; a method's lines are one series (its legend entry), each point's hover names its
    setting; the MAX_CURVE_SETTINGS most recent settings are drawn. Zero-shot and the majority
    class are horizontal lines; few-shot prompting is a point at the number of labelled examples
    its prompt holds."""
    metric = metric or score_metric(_succeeded(runs))
    task = runs_task(_succeeded(runs))
    points = curve_points(runs, metric)
    curve_keys = ["model", "dataset", "method", "setting"]
    # plain lists from here: a curve is a handful of points
    col = {c: points[c].tolist() for c in curve_keys + ["n_train", "mean", "lo", "hi", "n", "last_run"]}
    curves: dict = {}
    for i, key in enumerate(zip(*(col[c] for c in curve_keys))):
        curves.setdefault(key, []).append(i)
    curves = {k: idx for k, idx in curves.items() if len({col["n_train"][i] for i in idx}) >= 2}
    if not curves:
        return empty_figure(t("chart_curve_empty"))
    fmt = _score_format(metric)
    newest = sorted(curves, key=lambda k: max(col["last_run"][i] for i in curves[k]), reverse=True)
    kept = set(newest[:MAX_CURVE_SETTINGS])
    hidden = len(curves) - len(kept)
    curves = {k: v for k, v in curves.items() if k in kept}
    mixed = len({k[:2] for k in curves}) > 1
    settings: dict = {}
    for model, dataset, method, setting in curves:
        settings.setdefault((model, dataset, method), set()).add(setting)
    labels = []
    # one series per method: its curves joined with gaps (None), its seed bands closed shapes
    lines: dict[str, dict] = {}
    # a method's settings are told apart by the fields that differ between them ("lr=2e-05")
    differ: dict = {}
    for key, texts in settings.items():
        parsed = [json.loads(x) for x in texts]
        fields = sorted({f for d in parsed for f in d})
        differ[key] = [f for f in fields if len({json.dumps(d.get(f), default=str) for d in parsed}) > 1]
    for (model, dataset, method, setting), idx in curves.items():
        values = json.loads(setting)
        qualifiers = ([f"{model}, {dataset}"] if mixed else []) + (
            [", ".join(f"{f.removeprefix('method_options.')}={_short(f, values.get(f))}"
                       for f in differ[(model, dataset, method)])]
            if len(settings[(model, dataset, method)]) > 1 else [])
        label = f"{method} ({'; '.join(q for q in qualifiers if q)})" if any(qualifiers) else method
        labels.append(label)
        x, mean = floats(col["n_train"][i] for i in idx), floats(col["mean"][i] for i in idx)
        lo, hi = floats(col["lo"][i] for i in idx), floats(col["hi"][i] for i in idx)
        line = lines.setdefault(method, {"x": [], "y": [], "custom": [], "text": [], "band_x": [], "band_y": []})
        if line["x"]:
            line["x"].append(None)
            line["y"].append(None)
            line["custom"].append([math.nan] * 3)
            line["text"].append("")
        line["x"] += x
        line["y"] += mean
        line["custom"] += [[col["n"][i], a, b] for i, a, b in zip(idx, lo, hi)]
        line["text"] += [label] * len(idx)
        if any(col["n"][i] > 1 for i in idx):
            if line["band_x"]:
                line["band_x"].append(None)
                line["band_y"].append(None)
            line["band_x"] += x + x[::-1]
            line["band_y"] += hi + lo[::-1]
    data = []
    for method, line in lines.items():
        colour, symbol = method_style(method)
        if line["band_x"]:
            data.append(dict(type="scatter", x=line["band_x"], y=line["band_y"], fill="toself", mode="lines",
                             fillcolor=colour, opacity=0.15, line=dict(width=0), hoverinfo="skip",
                             showlegend=False, legendgroup=method))
        data.append(dict(
            type="scatter", x=line["x"], y=line["y"], mode="lines+markers", name=method, legendgroup=method,
            line=dict(color=colour, width=2.5 if method == "full" else 2),
            marker=dict(symbol=symbol, size=9, color=colour),
            customdata=np.array(line["custom"], dtype=float), hovertext=line["text"],
            hovertemplate=(f"<b>%{{hovertext}}</b><br>%{{x:,.0f}} training examples<br>mean %{{y:{fmt}}} over "
                           f"%{{customdata[0]}} seed(s), from %{{customdata[1]:{fmt}}} to %{{customdata[2]:{fmt}}}"
                           "<extra></extra>")))
    pairs = {k[:2] for k in curves}
    # The majority label can change with the subset; one line per method: the mean over the sizes.
    means: dict = {}
    for r in _baseline_records(aggregate_seeds(runs, metric)):
        if r["method"] in ("majority", "zero-shot") and (r["model"], r["dataset"]) in pairs:
            means.setdefault((r["model"], r["dataset"], r["method"]), []).append(float(r["mean"]))
    shapes, traces, baselines = _baselines(
        [dict(model=mo, dataset=d, method=m, mean=sum(v) / len(v)) for (mo, d, m), v in sorted(means.items())], fmt)
    data += traces
    shots = _succeeded(runs)
    if len(shots) and (shots["method"] == "few-shot").any():
        shots = shots[(shots["method"] == "few-shot") & shots["dataset"].isin({d for _, d in pairs})]
    if len(shots) and "few-shot" in set(shots["method"]):
        k = [f.get("method_options.shots", 4) for f in flat_configs(shots)]
        n_classes = [len(json.loads(v)) if isinstance(v, str) else len(v or []) for v in shots["label_names"]] \
            if "label_names" in shots else [1] * len(shots)
        x = [a * b for a, b in zip(k, n_classes)]
        colour = BASELINE_STYLE["few-shot"][0]
        data.append(dict(type="scatter", x=x, y=floats(_num(shots[metric])), mode="markers", name=t("chart_few_shot"),
                         marker=dict(symbol="star", size=14, color=colour, line=dict(width=1, color="white")),
                         hovertemplate=f"<b>few-shot</b><br>%{{x}} examples in the prompt<br>%{{y:{fmt}}}"
                                       "<extra></extra>"))
        baselines.append(t("chart_few_shot"))
    title = t("chart_curve_title", metric=_metric_title(metric, task=task).split(" (")[0].lower())
    if hidden:  # on a line of its own: the chart is half the page wide
        title += f"<br><span style='font-size:{FONT_SIZE}px'>{t('chart_more_settings', n=hidden)}</span>"
    layout = dict(xaxis=dict(type="log", title=dict(text=t("chart_examples_axis")), dtick=1, tickformat="~s"),
                  yaxis=dict(title=dict(text=_metric_title(metric, task=task)),
                             **({"tickformat": ".0%"} if metric in FRACTION_METRICS else {})),
                  shapes=shapes)
    layout.update(layout_dict(title, {"metric": metric, "curves": labels, "n_points": sum(map(len, curves.values())),
                                      "baselines": baselines, "hidden_settings": hidden}))
    ys = [y for trace in data for y in trace["y"]] + [shape["y0"] for shape in shapes]
    set_ranges(layout, decades(x for trace in data for x in trace["x"]),
               clamped_range(ys, ys) if metric in FRACTION_METRICS else None)
    return figure(data, layout)


def mean_range_point(label: str, method: str, x, y, hover: str) -> dict:
    """One setting's seeds as one point at their mean, bars to their lowest and highest, named by
    its method (the forgetting charts); `hover`: the lines between the name and the run count."""
    colour, symbol = method_style(method)
    return dict(
        type="scatter", x=[float(x.mean())], y=[float(y.mean())], mode="markers+text", name=label, text=[method],
        textposition="top center",
        marker=dict(color=colour, symbol=symbol, size=16 if method == "full" else 13, line=dict(width=1, color="white")),
        error_x=dict(type="data", symmetric=False, array=[float(x.max() - x.mean())],
                     arrayminus=[float(x.mean() - x.min())], visible=len(x) > 1, thickness=1.5),
        error_y=dict(type="data", symmetric=False, array=[float(y.max() - y.mean())],
                     arrayminus=[float(y.mean() - y.min())], visible=len(y) > 1, thickness=1.5),
        hovertemplate=f"<b>{label}</b><br>{hover}<br>{t('hover_runs', n=len(x))}<extra></extra>")


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
    metric, task = score_metric(runs), runs_task(runs)
    runs["pair"] = [f"{datasets.get(p, 'run ' + str(p))} → {d}" for p, d in zip(runs["init_from"], runs["dataset"])]
    data, labels = [], []
    mixed = runs[["model", "pair"]].drop_duplicates().shape[0] > 1
    for (model, pair, method), g in runs.groupby(["model", "pair", "method"], sort=False):
        x, y = 100 * _num(g["forgetting"]), 100 * _num(g["new_task_gain"])  # in points, as the axes say
        label = f"{method} ({model}, {pair})" if mixed else method
        labels.append(label)
        hover = (f"{t('hover_forgetting', value='%{x:+.1f}')}<br>{t('hover_gain', value='%{y:+.1f}')}")
        data.append(mean_range_point(label, method, x, y, hover))
    # ticks in points with a decimal where the spread is small: never "+16% +16% +17%"
    layout = dict(xaxis=dict(title=dict(text=t("chart_forgetting_axis", metric=_metric_name(metric, task))),
                             tickformat="+.1f", zeroline=False),
                  yaxis=dict(title=dict(text=t("chart_gain_axis", metric=_metric_name(metric, task))),
                             tickformat="+.1f"),
                  shapes=[dict(type="line", xref="x", x0=0, x1=0, yref="y domain", y0=0, y1=1,
                               line=dict(color="#999", width=1))])
    layout.update(layout_dict(t("chart_forgetting_title"), {"labels": labels, "n_points": len(labels)}))
    return figure(data, layout)


def general_forgetting(runs: pd.DataFrame | None) -> go.Figure:
    """Generative runs: the test score against the cross-entropy gained on general text
    (forgetting_ce, nats per token; prompting changes no weight, so 0), one point per method
    (and model, and dataset), mean over seeds with their range. Up and left is better."""
    everything = _succeeded(runs)
    if len(everything) == 0 or "forgetting_ce" not in everything:
        return empty_figure(t("chart_general_empty"))
    runs = everything[np.isfinite(_num(everything["forgetting_ce"]))].copy()
    metric = score_metric(runs) if len(runs) else None
    if runs.empty or metric not in runs:
        return empty_figure(t("chart_general_empty"))
    runs = runs[np.isfinite(_num(runs[metric]))]
    name = _metric_name(metric, runs_task(runs))
    data, labels = [], []
    mixed = runs[["model", "dataset"]].drop_duplicates().shape[0] > 1
    for (model, dataset, method), g in runs.groupby(["model", "dataset", "method"], sort=False):
        x, y = _num(g["forgetting_ce"]), _num(g[metric])  # fractions, drawn as % by the axis
        label = f"{method} ({model}, {dataset})" if mixed else method
        labels.append(label)
        hover = f"{t('hover_general', value='%{x:+.3f}')}<br>{name} %{{y:.1%}}"
        data.append(mean_range_point(label, method, x, y, hover))
    layout = dict(xaxis=dict(title=dict(text=t("chart_general_axis")), tickformat="+.2f", zeroline=False),
                  yaxis=dict(title=dict(text=name), tickformat=".0%"),
                  shapes=[dict(type="line", xref="x", x0=0, x1=0, yref="y domain", y0=0, y1=1,
                               line=dict(color="#999", width=1))])
    layout.update(layout_dict(t("chart_general_title"), {"labels": labels, "n_points": len(labels)}))
    ys = [y for trace in data for y in trace["y"]]
    set_ranges(layout, None, clamped_range(ys, ys))
    return figure(data, layout)


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
    instead (train solid, eval hatched). The MAX_BAR_ROWS most recent settings are drawn, in
    their order; the title says how many more there are."""
    agg = _without_baselines(aggregate_seeds(runs))
    agg = agg[agg[[c for c, _, _ in panels]].notna().any(axis=1)].reset_index(drop=True)
    if agg.empty:
        return empty_figure(empty)
    agg, hidden = _recent(agg, MAX_BAR_ROWS)
    agg = agg.reset_index(drop=True)
    labels = _bar_labels(agg)
    colours = [method_style(m)[0] for m in agg["method"]]
    n_panels = 1 if patterns else len(panels)
    layout = grid(1, n_panels, None if patterns else [p for _, p, _ in panels], shared_yaxes=True,
                  horizontal_spacing=0.04)
    data = []
    several = bool((agg["n_runs"] > 1).any())
    for i, (col, name, xtitle) in enumerate(panels):
        xa, ya = axis_names(1 if patterns else i + 1)
        data.append(dict(
            type="bar", y=labels, x=floats(agg[col]), orientation="h", name=name, showlegend=patterns,
            xaxis=xa, yaxis=ya,
            marker=dict(color=colours, pattern=dict(shape="/" if patterns and i else "", fgcolor="white", size=6)),
            error_x=dict(type="data", array=_err(agg[f"{col}_std"]), visible=several, thickness=1.2, width=3),
            customdata=[[t("hover_std", std=f"{sd:,.3g}", n=n) if n > 1 and sd == sd else one_seed()]
                        for n, sd in zip(agg["n_runs"], agg[f"{col}_std"])],
            hovertemplate=f"<b>%{{y}}</b><br>%{{x:,.4g}} {xtitle}<br>%{{customdata[0]}}<extra>{name}</extra>"))
        layout[axis_key(xa)] = {**layout.get(axis_key(xa), {}), "title": dict(text=xtitle)}
    for k in range(1, n_panels + 1):
        ya = axis_key(axis_names(k)[1])
        layout[ya] = {**layout.get(ya, {}), "autorange": "reversed", "automargin": True,
                      "tickfont": dict(size=FONT_SIZE - 1)}
    if patterns:
        layout.update(barmode="group", bargap=0.25, bargroupgap=0.05)
    rows = len(agg) * (2 if patterns else 1)
    if hidden:
        title += " " + t("chart_more_settings", n=hidden)
    panel_titles = layout.pop("annotations", None)
    layout.update(layout_dict(title, {"n_methods": len(agg), "labels": labels, "height": 150 + BAR_PX * rows,
                                      "hidden_settings": hidden}, legend="right" if patterns else None))
    if panel_titles:
        layout["annotations"] = panel_titles
    layout["margin"]["l"] = 10
    return figure(data, layout)


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

