"""How other processes talk to a running scheduler without opening its database.

DuckDB lets one process hold a database file. While a scheduler (the dashboard or `ftlab
worker`) holds it, the CLI drops commands as JSON files into `<db>.inbox/` (written to a temp
name, then renamed, so the scheduler never reads half a file) and reads jobs and runs from the
scheduler's snapshot, in files split so that what is rewritten often stays small, however long
the queue or the history:

- `<db>.state.json`, looked at about once a second and rewritten only when what it holds changed
  (or every `KEEPALIVE_S`, so a reader can tell a working scheduler from a gone one): the running
  jobs, the first `PAGE` queued jobs (queue order), "counts" (how many jobs have each status, all
  of them), the runs not finished (queued, running, interrupted), "scheduler" (None while the
  scheduler works, else the line saying what it is retrying), "history", the version of the
  history file it goes with, and "queue", the version of the queue file (None while every
  queued job fits the page);
- `<db>.queue.json`, there only while more jobs are queued than the page holds, rewritten only
  when those change (one is queued, starts, is canceled, re-prioritised): the queued jobs after
  the first page, with its "version";
- `<db>.history.json`, rewritten only when a job or run enters or leaves that finished set: the
  other jobs (succeeded, failed, canceled, interrupted) and the finished runs, with its "version".

Each is written to a temp name, then renamed; the queue and history files first, then the state
naming them. `read_snapshot` merges them into what the database would give (jobs in queue order,
runs by id), reading the state again if it caught a queue or history file of another version;
`read_snapshot(queue=False)` leaves the queue file out: one page of the queue, what the Queue tab
shows, at a cost that does not grow with the queue.

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

SNAPSHOT_EVERY_S = 1.0  # how often the scheduler looks whether its snapshot changed
KEEPALIVE_S = 15.0  # an unchanged state file is rewritten this often all the same (its time, for STALE_AFTER_S)
STALE_AFTER_S = 60.0  # a working scheduler rewrites its state file at least every KEEPALIVE_S, or every retry
PAGE = 50  # the queued jobs in the state file (the Queue tab's page); the rest are in the queue file
LIVE_JOBS = ("queued", "running")  # in the state file; every other job status is in the history file
LIVE_RUNS = ("queued", "running", "interrupted")  # the rest (store.TERMINAL_STATUSES) are in the history file
FINISHED_JOBS = ("succeeded", "failed", "canceled", "interrupted", "pruned")
FINISHED_RUNS = ("succeeded", "failed", "canceled", "pruned")
OPS = ("submit", "cancel", "retry", "priority", "study", "rename")
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


def queue_path(db_path: str) -> Path:
    return Path(real_db_path(db_path) + ".queue.json")


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
    if op == "rename" and not (isinstance(command.get("experiment"), str) and isinstance(command.get("name"), str)
                               and command["name"].strip()):
        raise CommandError("rename: needs an 'experiment' id and a non-empty 'name'")
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
    """The scheduler's side of the snapshot (see the module doc). Each `write` counts the jobs by
    status, reads the running jobs and the live runs, and a fingerprint of the queued jobs: only
    when that changed does it read the whole queue again (and rewrite the queue file if the jobs
    after the page changed). It reads the finished jobs and runs too when the set of finished ids
    changed since the last write: an id left the live set (it finished, or was deleted) or came
    back into it from the history (a retried job, the new attempt of a run). The state file is
    rewritten only when what it holds changed, or after `KEEPALIVE_S`; `writes` counts them."""

    def __init__(self, db_path: str):
        self.db_path = str(db_path)
        self.last = -1e9  # when write last looked (time.monotonic)
        self.written = -1e9  # when it last wrote the state file
        self.writes = 0  # state files written
        self.version: str | None = None  # the history file's, None until this writer wrote one
        self.queue_version: str | None = None  # the queue file's; None: every queued job is on the page
        self.live: tuple[set, set] = (set(), set())  # job ids (running and queued), run ids, at the last write
        self.finished: tuple[set, set] = (set(), set())  # job ids, run ids in the history file
        self._queued: tuple | None = None  # the fingerprint of the queued jobs last read
        self._page: list[dict] = []  # the first PAGE queued jobs, as last read
        self._queued_ids: set = set()  # every queued job's id, as last read
        self._rest = ""  # the queue file's jobs, as JSON, as last written
        self._body = ""  # the state file's content but its time, as last written
        self._stat: tuple | None = None  # the state file as last written (inode, mtime, size)
        self._names: tuple | None = None  # the experiments' fingerprint last seen

    def write(self, store, scheduler: str | None = None, force: bool = False) -> bool:
        """Bring the snapshot up to date (at most once every SNAPSHOT_EVERY_S unless `force`);
        True if the state file was rewritten."""
        now = time.monotonic()
        if not force and now - self.last < SNAPSHOT_EVERY_S:
            return False
        self.last = now
        counts = store.job_counts()
        running = store.jobs_records(status="running")
        queued = store.jobs_fingerprint(status="queued")
        names = store.experiments_fingerprint()  # records carry experiment names: a rename refreshes them
        renamed = names != self._names
        self._names = names
        if queued != self._queued or renamed:
            jobs = store.jobs_records(status="queued")
            self._write_queue(jobs[PAGE:])
            self._page, self._queued_ids, self._queued = jobs[:PAGE], {j["id"] for j in jobs}, queued
        runs = store.runs_records(status=LIVE_RUNS)
        live = ({j["id"] for j in running} | self._queued_ids, {r["id"] for r in runs})
        if self.version is None or renamed or any(before - now_live or now_live & done for before, now_live, done
                                                  in zip(self.live, live, self.finished)):
            self._write_history(store)
        self.live = live
        body = json.dumps({"pid": os.getpid(), "scheduler": scheduler, "jobs": running + self._page, "runs": runs,
                           "counts": counts, "history": self.version, "queue": self.queue_version}, default=str)
        path = snapshot_path(self.db_path)
        if body == self._body and self._stat == _stat(path) and now - self.written < KEEPALIVE_S:
            return False
        _atomic_write(path, '{"time": %s, %s' % (json.dumps(time.time()), body[1:]))
        self._body, self._stat, self.written = body, _stat(path), now
        if self.queue_version is None:  # the state no longer names a queue file: one left behind goes
            queue_path(self.db_path).unlink(missing_ok=True)
        self.writes += 1
        return True

    def _write_queue(self, rest: list[dict]) -> None:
        """The queued jobs after the page into the queue file, if they changed; none: no file."""
        text = json.dumps(rest, default=str) if rest else ""
        if text == self._rest and (not text or queue_path(self.db_path).exists()):
            return
        if not rest:
            self.queue_version, self._rest = None, ""  # the state saying so is written before the file goes
            return
        self.queue_version = uuid.uuid4().hex
        _atomic_write(queue_path(self.db_path), '{"version": %s, "jobs": %s}' % (json.dumps(self.queue_version), text))
        self._rest = text

    def _write_history(self, store) -> None:
        jobs, runs = store.jobs_records(status=FINISHED_JOBS), store.runs_records(status=FINISHED_RUNS)
        self.version = uuid.uuid4().hex
        _atomic_write(history_path(self.db_path),
                      json.dumps({"version": self.version, "jobs": jobs, "runs": runs}, default=str))
        self.finished = ({j["id"] for j in jobs}, {r["id"] for r in runs})


def _stat(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


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
    """The state file alone: the scheduler's status, the running jobs, the first page of the
    queued ones, the counts by status and the live runs."""
    return _read_json(snapshot_path(db_path))


def read_snapshot(db_path: str, attempts: int = 50, queue: bool = True) -> dict | None:
    """The state file with its queue and history files merged in: "jobs" and "runs" as
    Store.jobs_records() and runs_records() gave them when it was written, "counts" the jobs by
    status. With `queue=False`, the queued jobs are only the state file's page (the first
    `PAGE`): what the Queue tab shows, read at the same cost however long the queue. None if
    there is none yet, or if a file it names cannot be read (after `attempts` tries, 10 ms
    apart: the scheduler renames the queue and history files, then the state)."""
    for _ in range(attempts):
        state = read_state(db_path)
        if state is None:  # none yet
            return None
        rest: list[dict] = []
        if queue and state.get("queue") is not None:
            extra = _read_json(queue_path(db_path))
            if extra is None or extra.get("version") != state["queue"]:
                time.sleep(0.01)
                continue
            rest = extra["jobs"]
        history: dict | None = {"jobs": [], "runs": []}
        if state.get("history") is not None:
            history = _read_json(history_path(db_path))
            if history is None or history.get("version") != state["history"]:
                time.sleep(0.01)
                continue
        jobs = list(state.get("jobs") or [])
        seen = {j["id"] for j in jobs}
        jobs += [j for j in rest if j["id"] not in seen]
        seen.update(j["id"] for j in rest)
        jobs += [j for j in history["jobs"] if j["id"] not in seen]
        live_runs = {r["id"] for r in state.get("runs") or []}
        runs = sorted((state.get("runs") or []) + [r for r in history["runs"] if r["id"] not in live_runs],
                      key=lambda r: r["id"])
        counts = state.get("counts")
        if counts is None:  # a state file from before the counts: it held every queued job
            counts = {}
            for j in jobs:
                counts[j.get("status")] = counts.get(j.get("status"), 0) + 1
        return {**state, "jobs": jobs, "runs": runs, "counts": counts}
    return None
