"""The one API the CLI and the dashboard use: plain values in, plain values out.

Training in this module runs in the calling process (the CLI's `train` and `run`); the store is
written by this process only, from the engine's events.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

from ftlab.config import RunConfig
from ftlab.store import Store

PACKAGES = ("ftlab", "torch", "transformers", "peft", "datasets", "evaluate", "duckdb", "gradio")


def versions() -> dict[str, str]:
    """Package versions stored with every run, so a result can be traced to its software."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "ftlab":
                from ftlab import __version__

                out[name] = __version__
    return out


def artifacts_root(db_path: str) -> Path:
    """Trained adapters/heads live beside the database: ftlab.duckdb -> ftlab-artifacts/run-N."""
    p = Path(db_path)
    return p.with_name(p.stem + "-artifacts")


def train_now(config: RunConfig, store: Store, *, db_path: str = "ftlab.duckdb",
              on_event: Optional[Callable[[dict], None]] = None, save: bool = True) -> tuple[int, Optional[dict], Optional[str]]:
    """Record a run, train it here, record every event. Returns (run_id, summary or None, error or None).

    Errors are recorded with the run (status failed, reason, metrics reached), then returned as
    one line, never raised: a grid goes on after one run fails. KeyboardInterrupt propagates.
    """
    from ftlab.train import train

    run_id = store.create_run(config.to_dict(), config.hash, model=config.model, dataset=config.dataset,
                              task=config.task, method=config.method, seed=config.seed, versions=versions())
    error: Optional[str] = None

    def emit(event: dict) -> None:
        nonlocal error
        if event["event"] == "failed":
            error = event["error"]
        store.record_event(run_id, event)
        if on_event:
            on_event(event)

    out_dir = str(artifacts_root(db_path) / f"run-{run_id}") if save else None
    try:
        summary = train(config, emit, artifact_dir=out_dir)
    except KeyboardInterrupt:
        store.set_status(run_id, "failed", "interrupted by the user")
        raise
    except Exception:
        return run_id, None, error or "failed"
    return run_id, summary, None


def list_runs(store: Store, **filters) -> list[dict]:
    return store.runs_records(**filters)
