"""How every chart looks: one colour and marker per method, metric titles and formats, the layout,
the empty figure and the hover text of a seed spread."""

from __future__ import annotations

import copy
import functools
import math
import zlib

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ftlab.text import t

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
MEMORY_KINDS = {"cuda_max_allocated": "GPU allocated", "cpu_peak_rss": "peak RSS during the run",
                "cpu_process_peak_rss": "process peak RSS"}


def method_style(method: str) -> tuple[str, str]:
    """(colour, marker symbol) of a method, the same in every chart and every session.

    Unknown names (a custom method, a renamed variant like "lora-r16") hash with crc32, not
    hash(), which is salted per process and would change colours between restarts."""
    if method in KNOWN_METHODS:
        i = KNOWN_METHODS.index(method)
    else:
        i = zlib.crc32(str(method).encode())
    return PALETTE[i % len(PALETTE)], SYMBOLS[i % len(SYMBOLS)]


EDGE = 0.03  # how far a clamped score axis may run past 0% / 100%


MIN_SPAN = 0.10  # the narrowest score axis (fractions): 10 points


def clamped_range(lows, highs) -> list[float] | None:
    """A score axis (fractions) inside 0-100% around these low and high ends (points minus and plus
    their error bars, the baselines): with 2 seeds a 95% interval is +-12.7 standard errors and
    can reach far past 0% or 100%, and autorange would shrink the points into a band. Bars running
    past the range are cut at the frame. None when there is nothing to place."""
    lows = [float(v) for v in lows if v is not None and math.isfinite(float(v))]
    highs = [float(v) for v in highs if v is not None and math.isfinite(float(v))]
    if not lows or not highs:
        return None
    lo, hi = max(0.0, min(lows)), min(1.0, max(highs))
    if hi - lo < MIN_SPAN:  # at least 10 points: whole-percent ticks stay distinct ("75% 75%" never)
        mid = min(max((lo + hi) / 2, MIN_SPAN / 2), 1.0 - MIN_SPAN / 2)
        lo, hi = mid - MIN_SPAN / 2, mid + MIN_SPAN / 2
    # Room for a marker (13-20 px) at either end of a ~300 px plot area: about a tenth of the range.
    pad = 0.08 * max(hi - lo, 0.02) + 0.005
    # A sliver past 0% and 100% keeps the 0% label off the x axis's first tick label.
    return [max(-EDGE, lo - pad), min(1.0 + EDGE, hi + pad)]


def decades(xs) -> list[int] | None:
    """A log axis's range in whole decades around these values, so at least two decade ticks (100,
    1k, 10k...) label it: with points between 195 and 4,291 plotly's range holds only "1k"."""
    xs = [float(x) for x in xs if x is not None and math.isfinite(float(x)) and float(x) > 0]
    if not xs:
        return None
    # keep markers off the frame
    return [math.floor(math.log10(min(xs)) - 0.15), math.ceil(math.log10(max(xs)) + 0.15)]


def set_ranges(layout: dict, x: list | None = None, y: list | None = None) -> dict:
    """Fix every x axis of `layout` to range `x` and every y axis to `y` (when given)."""
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        wanted = x if key.startswith("x") else y
        if wanted is not None:
            layout[key] = {**layout[key], "range": wanted, "autorange": False}
    return layout


def fraction_ticks(fig: go.Figure, values, axis: str = "y") -> go.Figure:
    """A % axis whose ticks read as distinct numbers: one decimal where the values span under 5
    points (never "70% 70% 69%"), and a range of at least 10 points around them, inside 0-100%
    (one point never gets a 0-150% axis)."""
    finite = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    if not finite:
        return update(tickformat=".0%")
    lo, hi = min(finite), max(finite)
    span = max(hi - lo, 0.10)
    mid = (lo + hi) / 2
    low, high = max(0.0, mid - span * 0.6), min(1.0, mid + span * 0.6)
    return update(tickformat=".1%" if hi - lo < 0.05 else ".0%", range=[low, high], autorange=False)


def _metric_name(metric: str, task: str | None = None) -> str:
    """How a chart names `metric`; a task's own name for its primary metric where runs of one task
    are drawn (a generative run's accuracy is its exact match)."""
    from ftlab.tasks import get_task, names

    if task in names() and get_task(task).primary == metric:
        title = get_task(task).primary_title
        return t("metric_" + title.replace(" ", "_").replace("-", "_").lower(), title)
    return t(f"metric_{metric}", METRIC_TITLES.get(metric, metric.replace("_", " ")))


def _metric_title(metric: str, split: str = "test", task: str | None = None) -> str:
    unit = " (%)" if metric in FRACTION_METRICS else ""
    return t("metric_title", split=t(f"split_{split.lower()}", split.capitalize()), metric=_metric_name(metric, task),
             unit=unit)


def _score_format(metric: str) -> str:
    return ".1%" if metric in FRACTION_METRICS else ".4g"


def layout_dict(title: str, meta: dict, legend: str | None = "right") -> dict:
    """What every chart's layout holds: the template, the title, fonts, `meta`, margins and the legend
    (right of the plot, below it, or none)."""
    legends = {
        "right": dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"),
        # Below the plot area, clear of the x axis title: long run lists wrap into rows.
        "below": dict(orientation="h", x=0, xanchor="left", y=-0.18, yanchor="top"),
    }
    out = dict(template=pio.templates[TEMPLATE], title=dict(text=title, x=0.01, xanchor="left",
                                                            font=dict(size=FONT_SIZE + 5)),
               font=dict(size=FONT_SIZE), meta={"empty": False, **meta}, showlegend=legend is not None,
               margin=dict(l=70, r=30, t=70, b=70 if legend != "below" else 140))
    if legend:
        out["legend"] = legends[legend]
    return out


def _layout(fig: go.Figure, title: str, meta: dict, legend: str | None = "right") -> go.Figure:
    fig.update_layout(layout_dict(title, meta, legend))
    return fig


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, without Plotly's per-property validation (the
    charts build what they know to be valid; validating each property of each trace costs far
    more than drawing). Its traces and layout read back as usual (fig.data[0].marker.color)."""
    return go.Figure(data=data, layout=layout, _validate=False)


def axis_names(k: int) -> tuple[str, str]:
    """The x and y axis references of subplot k (1-based, row by row): ("x", "y"), ("x2", "y2")..."""
    return ("x", "y") if k == 1 else (f"x{k}", f"y{k}")


@functools.lru_cache(maxsize=64)
def _grid_layout(rows: int, cols: int, titled: bool, shared_yaxes, horizontal_spacing: float,
                 vertical_spacing: float) -> dict:
    from plotly.subplots import make_subplots

    titles = [str(i) for i in range(rows * cols)] if titled else None
    layout = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_yaxes=shared_yaxes,
                           horizontal_spacing=horizontal_spacing, vertical_spacing=vertical_spacing
                           ).layout.to_plotly_json()
    layout.pop("template", None)
    return layout


def grid(rows: int, cols: int, titles: list[str] | None = None, shared_yaxes=False,
         horizontal_spacing: float = 0.2, vertical_spacing: float = 0.3) -> dict:
    """The layout of a rows x cols grid of panels as plotly.subplots.make_subplots lays it out
    (axes xaxis, yaxis, xaxis2, ... row by row; the panels' titles), as a dict, made once per shape:
    panel k's traces take axis_names(k)."""
    layout = copy.deepcopy(_grid_layout(rows, cols, titles is not None, shared_yaxes, horizontal_spacing,
                                        vertical_spacing))
    if titles is not None:
        layout["annotations"] = [{**a, "text": text, "font": {"size": FONT_SIZE}}
                                 for a, text in zip(layout.get("annotations", []), titles)]
    return layout


def axis_key(ref: str) -> str:
    """The layout key of an axis reference: "x" -> "xaxis", "y3" -> "yaxis3"."""
    return f"{ref[0]}axis{ref[1:]}"


def floats(values) -> list:
    """Numbers as plain floats for a trace, None where missing (a gap, or no bar)."""
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        out.append(f if math.isfinite(f) else None)
    return out


def thin(n: int, most: int) -> np.ndarray:
    """At most `most` indices into n points, evenly spread, the first and last always among them:
    what a line of n points is drawn from."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(2, most)).round().astype(int))


def empty_figure(message: str) -> go.Figure:
    """A blank figure with `message` centred: what every chart shows when it has no data."""
    return figure([], dict(
        annotations=[dict(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                          font=dict(size=FONT_SIZE + 3, color="#555"))],
        template=pio.templates[TEMPLATE], font=dict(size=FONT_SIZE), meta={"empty": True, "message": message},
        xaxis=dict(visible=False), yaxis=dict(visible=False)))


def _err(values) -> list[float]:
    # n = 1 has no spread: draw no error bar rather than a NaN one.
    return [0.0 if v is None or not np.isfinite(v) else float(v) for v in values]


def one_seed() -> str:
    """Hover text of a setting run with one seed, in the page's language."""
    return t("hover_one_seed", "1 seed: no interval")



BASELINE_STYLE = {"majority": ("#555555", "dot"), "zero-shot": ("#8B4513", "dash"), "few-shot": ("#B8860B", "dashdot")}

