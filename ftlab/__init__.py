"""ftlab: compare full fine-tuning with parameter-efficient methods on your own data.

The rooms, top to bottom (data flows down; tests/test_layers.py checks every import, lazy ones too):

    ui/            Gradio tabs; ui/logic/ their plain logic      -> service, charts, config, names
    charts/        DataFrame -> plotly Figure (style, settings, aggregate, figures) -> pandas, plotly
    service/       Lab: submit / cancel / retry / compare         -> queue, store, train (predict)
    queue/         persistent jobs, scheduler, backends, worker   -> store (scheduler only), train
    store.py       DuckDB, the only code that opens it            -> errors
    train/         the engine: one run, setup -> fit -> evaluate  -> config, data, methods, models, metrics
    methods/       one module per fine-tuning method              -> options, models
    data/ models/ metrics/     datasets, base models, scores      -> errors, hub, cache
    config.py      RunConfig, validated and hashable              -> options, methods, data, models
    options.py errors.py hub.py provenance.py cache.py: leaves every layer may use.

For scripts: `from ftlab import Lab, RunConfig` (both load lazily: importing ftlab stays cheap).
"""

from ftlab._version import __version__  # noqa: F401


def __getattr__(name: str):
    if name == "Lab":
        from ftlab.service import Lab

        return Lab
    if name == "RunConfig":
        from ftlab.config import RunConfig

        return RunConfig
    raise AttributeError(f"module 'ftlab' has no attribute {name!r}")
