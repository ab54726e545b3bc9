"""How other processes talk to a running scheduler without opening its database.

DuckDB lets one process hold a database file. While a scheduler (the dashboard or `ftlab
worker`) holds it, the CLI drops commands as JSON files into `<db>.inbox/` (written to a temp
name, then renamed, so the scheduler never reads half a file) and reads jobs and runs from the
snapshot `<db>.state.json` the scheduler rewrites about once a second. The snapshot's
"scheduler" is None while the scheduler works, else the line saying what it is retrying.

A command file is removed only once its command is applied. One that can never apply (not
JSON, an unknown op, a job that does not exist or is in the wrong state) is moved to
`<db>.inbox/rejected/` with a `.reason` file beside it, for `rejected` to list; one that failed
for a reason that passes (the database) stays where it is for the next tick.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

SNAPSHOT_EVERY_S = 1.0
STALE_AFTER_S = 60.0  # a working scheduler rewrites its snapshot every second, or every retry while it fails
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


def pending(db_path: str) -> list[Path]:
    """The command files waiting, in the order they were sent."""
    d = inbox_dir(db_path)
    return sorted(d.glob("*.json")) if d.is_dir() else []


def read(path: Path) -> dict:
    """A command file's command. ValueError for a file that is not a JSON object: it never will be."""
    try:
        command = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"not a JSON command ({err})") from None
    if not isinstance(command, dict):
        raise ValueError(f"not a command: a JSON {type(command).__name__}, not an object")
    return command


def done(path: Path) -> None:
    path.unlink(missing_ok=True)


def rejected_dir(db_path: str) -> Path:
    return inbox_dir(db_path) / "rejected"


def reject(db_path: str, path: Path, reason: str) -> None:
    """Set a command that can never apply aside, with the reason why."""
    d = rejected_dir(db_path)
    d.mkdir(exist_ok=True)
    _atomic_write(d / f"{path.name}.reason", reason)
    os.replace(path, d / path.name)


def rejected(db_path: str) -> list[dict]:
    """The commands set aside, oldest first: {"file", "reason", "command" (the file's text, cut)}."""
    d = rejected_dir(db_path)
    out = []
    for f in sorted(d.glob("*.json")) if d.is_dir() else []:
        reason = f.with_name(f.name + ".reason")
        out.append({"file": f.name, "reason": reason.read_text() if reason.exists() else "",
                    "command": f.read_text(errors="replace")[:500]})
    return out


def write_snapshot(db_path: str, store, force: bool = False, scheduler: str | None = None) -> None:
    now = time.monotonic()
    if not force and now - _last_snapshot.get(str(db_path), -1e9) < SNAPSHOT_EVERY_S:
        return
    _last_snapshot[str(db_path)] = now
    state = {"time": time.time(), "pid": os.getpid(), "scheduler": scheduler, "jobs": store.jobs_records(),
             "runs": store.runs_records()}
    _atomic_write(snapshot_path(db_path), json.dumps(state, default=str))


def write_scheduler_status(db_path: str, status: str | None) -> None:
    """Put the scheduler's status into the last snapshot (its jobs and runs unchanged): what other
    processes show while the database cannot be read."""
    state = read_snapshot(db_path)
    if state is not None and state.get("scheduler") != status:
        _atomic_write(snapshot_path(db_path), json.dumps({**state, "scheduler": status}, default=str))


def read_snapshot(db_path: str) -> dict | None:
    try:
        return json.loads(snapshot_path(db_path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
