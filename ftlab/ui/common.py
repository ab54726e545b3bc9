"""What more than one tab module shares: the import lock of their handlers, and figure sizing for
the tabs that draw (Compare, Run)."""

from __future__ import annotations

import threading

import plotly.graph_objects as go

# transformers' lazy top-level module cannot be imported from two threads at once (the loser gets
# "cannot import name 'AutoModel' from 'transformers'"), and gradio runs each event in a thread of
# its own. The handlers that may import it (validating a peft method's config imports peft; a
# dataset card loads a tokenizer; an estimate or a prediction builds a model) hold this lock.
IMPORT_LOCK = threading.RLock()

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
