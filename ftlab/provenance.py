"""Where a run's files live and what software made it: stored with every run."""

from __future__ import annotations

import os
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


def real_db_path(db_path: str) -> str:
    """The database file a path names: a symlink is followed, so every process that reaches the
    same file uses the same inbox, snapshot, lock and folders beside it (":memory:" and plain
    paths are returned unchanged)."""
    path = str(db_path)
    return os.path.realpath(path) if os.path.islink(path) else path


def artifacts_dir(db_path: str) -> Path:
    """Trained adapters/heads and job logs live beside the database: ftlab.duckdb -> ftlab-artifacts/."""
    p = Path(db_path)
    return p.with_name(p.stem + "-artifacts")


def run_dir(db_path: str, run_id: int) -> Path:
    """One run's trained weights and checkpoints: ftlab-artifacts/run-<id>/."""
    return artifacts_dir(db_path) / f"run-{run_id}"
