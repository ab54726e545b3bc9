"""How other processes talk to a running scheduler without opening its database.

DuckDB lets one process hold a database file. While a scheduler (the dashboard or `ftlab
worker`) holds it, the CLI drops commands as JSON files into `<db>.inbox/` (written to a temp
name, then renamed, so the scheduler never reads half a file) and reads jobs and runs from the
scheduler's snapshot, in two files so that what is rewritten every second follows the live work,
not the whole history:

- `<db>.state.json`, rewritten about once a second: the jobs queued or running, the runs not
  finished (queued, running, interrupted), "scheduler" (None while the scheduler works, else the
  line saying what it is retrying) and "history", the version of the history file it goes with;
- `<db>.history.json`, rewritten only when a job or run enters or leaves that finished set: the
  other jobs (succeeded, failed, canceled, interrupted) and the finished runs, with its "version".

Both are written to a temp name, then renamed; the history first, then the state naming it.
`read_snapshot` merges them into what the database would give (jobs in queue order, runs by id),
reading the state again if it caught the history of another version.

Every command is checked by `check` twice: where it is written (`send` refuses a bad one with
its one-line reason, so the sender exits non-zero) and where it is applied (a file written by
another tool or an older ftlab). A command file is removed only once its command is applied. One
that can never apply (not JSON, an unknown op, a value out of range, a value the database cannot
store, a job that does not exist or is in the wrong state) is moved to `<db>.inbox/rejected/`
with a `.reason` file beside it, for `rejected` to list; one that failed for a reason that
passes (the database) stays where it is for the next tick: at most `MAX_TRIES` ticks where the
database otherwise answers (an outage of the database itself never sets a command aside).

The inbox and snapshot files are named after the database's real path: a symlink to the
database reaches the same scheduler.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from pathlib import Path

from ftlab.errors import FtlabError
from ftlab.provenance import real_db_path

SNAPSHOT_EVERY_S = 1.0
STALE_AFTER_S = 60.0  # a working scheduler rewrites its snapshot every second, or every retry while it fails
LIVE_JOBS = ("queued", "running")  # in the state file; every other job status is in the history file
LIVE_RUNS = ("queued", "running", "interrupted")  # the rest (store.TERMINAL_STATUSES) are in the history file
FINISHED_JOBS = ("succeeded", "failed", "canceled", "interrupted", "pruned")
FINISHED_RUNS = ("succeeded", "failed", "canceled", "pruned")
OPS = ("submit", "cancel", "retry", "priority", "study")
PRIORITY_RANGE = (-(2**31), 2**31 - 1)  # the store's INTEGER column
MAX_TRIES = 50  # ticks a command may fail on a database error before it is set aside


class CommandError(FtlabError):
    """A command that can never apply, with the reason in one line."""


def inbox_dir(db_path: str) -> Path:
    return Path(real_db_path(db_path) + ".inbox")


def snapshot_path(db_path: str) -> Path:
    return Path(real_db_path(db_path) + ".state.json")


def history_path(db_path: str) -> Path:
    return Path(real_db_path(db_path) + ".history.json")


def check_priority(value) -> int:
    """A job priority as the store keeps it: an integer within 32 bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or number != int(number):
            raise CommandError(f"priority must be a whole number (got {value!r})")
        value = int(number)
    low, high = PRIORITY_RANGE
    if not low <= value <= high:
        raise CommandError(f"priority must lie between {low:,} and {high:,} (got {value:,})")
    return value


def _job_id(command: dict, key: str = "job") -> None:
    value = command.get(key)
    if not isinstance(value, str) or not value or len(value) > 64:
        raise CommandError(f"{command.get('op')}: {key!r} must be a job id (got {value!r})")


def check(command) -> dict:
    """The command if it is well formed, else CommandError with the reason. What the store would
    refuse (a priority outside 32 bits, a job without an id or config) is refused here."""
    if not isinstance(command, dict):
        raise CommandError(f"not a command: a JSON {type(command).__name__}, not an object")
    op = command.get("op")
    if op not in OPS:
        raise CommandError(f"unknown command {op!r}; one of {', '.join(OPS)}")
    if op == "cancel" and "jobs" in command:  # several queued jobs at once (Scheduler.cancel_many)
        jobs = command["jobs"]
        if not isinstance(jobs, list) or not jobs:
            raise CommandError("cancel: 'jobs' must be a non-empty list of job ids")
        for job in jobs:
            _job_id({"op": "cancel", "job": job})
    elif op in ("cancel", "retry", "priority"):
        _job_id(command)
    if op == "priority":
        check_priority(command.get("priority"))
    if op == "submit":
        jobs = command.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            raise CommandError("submit: 'jobs' must be a non-empty list of job specs")
        for spec in jobs:
            if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
                raise CommandError("submit: each job needs an 'id' and a 'config' object")
            _job_id({"op": "submit", "id": spec.get("id")}, "id")
            check_priority(spec.get("priority", 0))
    if op == "study":
        studies = command.get("studies")
        if not isinstance(studies, list) or not all(isinstance(s, dict) and s.get("id") for s in studies):
            raise CommandError("study: 'studies' must be a list of study specs with an 'id'")
    return command


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def send(db_path: str, command: dict) -> None:
    """Leave `command` for the scheduler; CommandError (nothing written) if it could never apply."""
    check(command)
    d = inbox_dir(db_path)
    d.mkdir(parents=True, exist_ok=True)
    _atomic_write(d / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json", json.dumps(command))


def pending(db_path: str) -> list[Path]:
    """The command files waiting, in the order they were sent."""
    d = inbox_dir(db_path)
    return sorted(d.glob("*.json")) if d.is_dir() else []


def read(path: Path) -> dict:
    """A command file's checked command. CommandError for a file that is not a well-formed
    command (`check`): it never will be."""
    try:
        command = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CommandError(f"not a JSON command ({err})") from None
    return check(command)


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


class SnapshotWriter:
    """The scheduler's side of the snapshot (see the module doc). `write` reads only the live jobs
    and runs from the store, and the finished ones too when the set of finished ids changed since
    the last write: an id left the live set (it finished, or was deleted) or came back into it
    from the history (a retried job, the new attempt of a run)."""

    def __init__(self, db_path: str):
        self.db_path = str(db_path)
        self.last = -1e9
        self.version: str | None = None  # the history file's, None until this writer wrote one
        self.live: tuple[set, set] = (set(), set())  # job ids, run ids in the last state file
        self.finished: tuple[set, set] = (set(), set())  # job ids, run ids in the history file

    def write(self, store, scheduler: str | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < SNAPSHOT_EVERY_S:
            return
        self.last = now
        jobs, runs = store.jobs_records(status=LIVE_JOBS), store.runs_records(status=LIVE_RUNS)
        live = ({j["id"] for j in jobs}, {r["id"] for r in runs})
        if self.version is None or any(before - now_live or now_live & done for before, now_live, done
                                       in zip(self.live, live, self.finished)):
            self._write_history(store)
        self.live = live
        state = {"time": time.time(), "pid": os.getpid(), "scheduler": scheduler, "jobs": jobs, "runs": runs,
                 "history": self.version}
        _atomic_write(snapshot_path(self.db_path), json.dumps(state, default=str))

    def _write_history(self, store) -> None:
        jobs, runs = store.jobs_records(status=FINISHED_JOBS), store.runs_records(status=FINISHED_RUNS)
        self.version = uuid.uuid4().hex
        _atomic_write(history_path(self.db_path),
                      json.dumps({"version": self.version, "jobs": jobs, "runs": runs}, default=str))
        self.finished = ({j["id"] for j in jobs}, {r["id"] for r in runs})


def write_scheduler_status(db_path: str, status: str | None) -> None:
    """Put the scheduler's status into the last state file (its jobs and runs unchanged): what other
    processes show while the database cannot be read."""
    state = read_state(db_path)
    if state is not None and state.get("scheduler") != status:
        _atomic_write(snapshot_path(db_path), json.dumps({**state, "scheduler": status}, default=str))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_state(db_path: str) -> dict | None:
    """The state file alone: the scheduler's status and the live jobs and runs."""
    return _read_json(snapshot_path(db_path))


def read_snapshot(db_path: str, attempts: int = 50) -> dict | None:
    """The state file with its history merged in: "jobs" and "runs" as Store.jobs_records() and
    runs_records() gave them when it was written. None if there is none yet, or if the history
    it names cannot be read (after `attempts` tries, 10 ms apart: the scheduler renames the
    history, then the state)."""
    for _ in range(attempts):
        state = read_state(db_path)
        if state is None or state.get("history") is None:  # none yet, or written before the history file
            return state
        history = _read_json(history_path(db_path))
        if history is not None and history.get("version") == state["history"]:
            live_jobs, live_runs = {j["id"] for j in state["jobs"]}, {r["id"] for r in state["runs"]}
            jobs = state["jobs"] + [j for j in history["jobs"] if j["id"] not in live_jobs]
            runs = sorted(state["runs"] + [r for r in history["runs"] if r["id"] not in live_runs],
                          key=lambda r: r["id"])
            return {**state, "jobs": jobs, "runs": runs}
        time.sleep(0.01)
    return None
