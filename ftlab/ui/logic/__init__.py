"""The dashboard's logic: plain functions the tab modules call, tested without a browser.

One module per tab (`launch` and its `preview`, `queue`, `compare`, `run`, `playground`) and
`format` for what more than one tab shows. Callers import the module they need
(`from ftlab.ui.logic import launch as launch_logic`); this package re-exports nothing.

Nothing here imports gradio, torch or transformers: a module may import pandas, ftlab.config,
ftlab.errors, ftlab.charts, ftlab.provenance and the other logic modules. Functions take the raw
values widgets hold (strings, floats, None, lists) and return plain values, DataFrames or
`RunConfig`s; user mistakes come back as one-line messages (or `FtlabError`s), never tracebacks.
"""
