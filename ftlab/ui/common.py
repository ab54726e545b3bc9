"""What more than one tab module shares: the import lock of their handlers, and figure sizing for
the tabs that draw (Compare, Run)."""

from __future__ import annotations

import math
import threading

import plotly.graph_objects as go

# transformers' lazy top-level module cannot be imported from two threads at once (the loser gets
# "cannot import name 'AutoModel' from 'transformers'"), and gradio runs each event in a thread of
# its own. The handlers that may import it (validating a peft method's config imports peft; a
# dataset card loads a tokenizer; an estimate or a prediction builds a model) hold this lock.
IMPORT_LOCK = threading.RLock()

EDGE = 0.03  # how far a clamped score axis may run past 0% / 100%
AXIS_TITLE_WRAP = 28  # characters a line: a longer y title is taller than a 400 px chart's plot area


def _wrap(text: str) -> str:
    """Word-wrap a long axis title onto lines of at most AXIS_TITLE_WRAP characters."""
    if not text or len(text) <= AXIS_TITLE_WRAP + 6 or "<br>" in text:
        return text
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > AXIS_TITLE_WRAP:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join(lines + [line])


def sized(fig: go.Figure, height: int) -> go.Figure:
    """Give a chart a fixed height (the tab lays charts out in rows) and wrap long axis titles so
    they fit beside the plot at that height."""
    fig.update_layout(height=height, autosize=True)
    for axis in list(fig.select_yaxes()) + list(fig.select_xaxes()):
        if axis.title and axis.title.text:
            axis.title.text = _wrap(axis.title.text)
    return fig


def clamp_fraction_axis(fig: go.Figure) -> go.Figure:
    """Keep a score axis (accuracy, F1: fractions) inside 0-100%.

    With 2 seeds a 95% interval is +-12.7 standard errors, so its bars can reach far past 0% or
    100%; autorange then shrinks the points into a band. Bars running past the range are cut at
    the frame, and the points stay readable."""
    from ftlab.charts import FRACTION_METRICS

    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    if meta.get("empty") or meta.get("metric") not in FRACTION_METRICS:
        return fig
    lows, highs = [], []
    for trace in fig.data:
        if trace.type != "scatter" or trace.y is None:
            continue
        errors = trace.error_y.array if trace.error_y is not None and trace.error_y.array is not None else ()
        for i, y in enumerate(trace.y):
            if y is None or not math.isfinite(float(y)):
                continue
            e = float(errors[i]) if i < len(errors) and errors[i] is not None else 0.0
            lows.append(float(y) - e)
            highs.append(float(y) + e)
    # the baselines' horizontal lines stay in view: they are the scores to beat
    for shape in fig.layout.shapes or ():
        if shape.type == "line" and shape.y0 is not None and shape.y0 == shape.y1:
            lows.append(float(shape.y0))
            highs.append(float(shape.y0))
    if not lows:
        return fig
    lo, hi = max(0.0, min(lows)), min(1.0, max(highs))
    # Room for a marker (13-20 px) at either end of a ~300 px plot area: about a tenth of the range.
    pad = 0.08 * max(hi - lo, 0.02) + 0.005
    # A sliver past 0% and 100% keeps the 0% label off the x axis's first tick label.
    fig.update_yaxes(range=[max(-EDGE, lo - pad), min(1.0 + EDGE, hi + pad)], autorange=False)
    return fig


def decade_range(fig: go.Figure) -> go.Figure:
    """Widen a log x axis to whole decades around its points, so at least two decade ticks (100,
    1k, 10k...) label it: with points between 195 and 4,291 plotly's range holds only "1k"."""
    if fig.layout.xaxis.type != "log":
        return fig
    xs = [float(x) for t in fig.data if t.x is not None for x in t.x
          if x is not None and math.isfinite(float(x)) and float(x) > 0]
    if not xs:
        return fig
    lo = math.floor(math.log10(min(xs)) - 0.15)  # keep markers off the frame
    hi = math.ceil(math.log10(max(xs)) + 0.15)
    fig.update_xaxes(range=[lo, hi], autorange=False)
    return fig
