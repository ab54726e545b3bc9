"""Where a run's files live and what software made it: stored with every run."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

PACKAGES = ("ftlab", "torch", "transformers", "peft", "datasets", "evaluate", "duckdb", "gradio")


def versions() -> dict[str, str]:
    """Package versions stored with every run, so a result can be traced to its software."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "ftlab":
                from ftlab._version import __version__

                out[name] = __version__
    return out


def uploads_dir(db_path: str) -> Path:
    """Uploaded datasets live beside the database: ftlab.duckdb -> ftlab-uploads/."""
    p = Path(db_path)
    return p.with_name(p.stem + "-uploads")


def artifacts_dir(db_path: str) -> Path:
    """Trained adapters/heads and job logs live beside the database: ftlab.duckdb -> ftlab-artifacts/."""
    p = Path(db_path)
    return p.with_name(p.stem + "-artifacts")


def run_dir(db_path: str, run_id: int) -> Path:
    """One run's trained weights and checkpoints: ftlab-artifacts/run-<id>/."""
    return artifacts_dir(db_path) / f"run-{run_id}"
