"""How other processes talk to a running scheduler without opening its database.

DuckDB lets one process hold a database file. While a scheduler (the dashboard or `ftlab
worker`) holds it, the CLI drops commands as JSON files into `<db>.inbox/` (written to a temp
name, then renamed, so the scheduler never reads half a file) and reads jobs and runs from the
snapshot `<db>.state.json` the scheduler rewrites about once a second.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

SNAPSHOT_EVERY_S = 1.0
_last_snapshot: dict[str, float] = {}


def inbox_dir(db_path: str) -> Path:
    return Path(str(db_path) + ".inbox")


def snapshot_path(db_path: str) -> Path:
    return Path(str(db_path) + ".state.json")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def send(db_path: str, command: dict) -> None:
    d = inbox_dir(db_path)
    d.mkdir(parents=True, exist_ok=True)
    _atomic_write(d / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json", json.dumps(command))


def take(db_path: str) -> list[dict]:
    """Commands in the order they were sent; each file is removed once read."""
    d = inbox_dir(db_path)
    if not d.is_dir():
        return []
    out = []
    for f in sorted(d.glob("*.json")):
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, json.JSONDecodeError):
            pass
        f.unlink(missing_ok=True)
    return out


def write_snapshot(db_path: str, store, force: bool = False) -> None:
    now = time.monotonic()
    if not force and now - _last_snapshot.get(str(db_path), -1e9) < SNAPSHOT_EVERY_S:
        return
    _last_snapshot[str(db_path)] = now
    state = {"time": time.time(), "pid": os.getpid(), "jobs": store.jobs_records(), "runs": store.runs_records()}
    _atomic_write(snapshot_path(db_path), json.dumps(state, default=str))


def read_snapshot(db_path: str) -> dict | None:
    try:
        return json.loads(snapshot_path(db_path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
