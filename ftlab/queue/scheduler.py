"""The scheduler: the one process that writes the database while jobs run.

Each tick it (1) applies the commands other processes left in the inbox, (2) writes the events
of running jobs into the store, (3) reaps jobs that ended, (4) starts queued jobs, by priority
then age, on free device slots, and (5) writes a JSON snapshot of jobs and runs that other
processes can read without the database: each second the live ones, and the finished ones only
when that set changed (ftlab.queue.inbox).

A job ends as what its worker reached: a `finished` event (not a stop on a cancel) is a success,
even if a cancel or a stop lands after it; before that, a cancel by its user ends it `canceled`
and a stop of the scheduler `interrupted`; CUDA out of memory re-queues it with the run's next
allowed fallback (ftlab.queue.fallback: half the batch, gradient checkpointing, a quantized base),
to resume from its last checkpoint; a worker killed by a signal nobody here sent (the kernel's OOM
killer, a crash) re-queues it, at most `max_crash_retries` times per scheduler; anything else
is `failed` with its reason.

Nothing stops the loop for good. A job that cannot start (its config no longer loads, the
backend refuses it) or whose events cannot be recorded fails alone, with its reason. An error of
the database itself (`DatabaseError`) leaves things where they were (events not yet written stay
pending, commands stay in the inbox) and the tick is retried with backoff while `health` says
so ("scheduler: database error, retrying (N): ..."), also in the snapshot and the log.

On start it recovers from a crash or a stop: every job the store says is running or interrupted
belonged to a scheduler that died or was stopped; its worker is killed if still alive and the job
is re-queued (its run is reset when it starts again), so no job runs twice at once and no metric
is duplicated. A job whose run already reached its end in the store (succeeded, or canceled)
keeps that end instead.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

from ftlab import tracking
from ftlab.config import RunConfig
from ftlab.errors import FtlabError, one_line
from ftlab.provenance import artifacts_dir, run_dir, versions
from ftlab.queue import inbox
from ftlab.queue.backends import LocalBackend, device_slots, kill_stale_worker
from ftlab.queue.tuning import Tuner
from ftlab.queue.fallback import next_fallback
from ftlab.queue.worker import EXIT_FAILED, EXIT_OK, EXIT_OOM
from ftlab.store import BadValueError, DatabaseError, Store
from ftlab.train.checkpoint import saved_steps  # reads folder names only: no torch

log = logging.getLogger(__name__)
LOG_TAIL = 20
MAX_BACKOFF_S = 30.0
FAULT_ENV = "FTLAB_FAULT_DB_ERROR"


def new_job_id() -> str:
    return "j" + uuid.uuid4().hex[:10]


def job_specs(configs: list[RunConfig], priority: int = 0, owner: Optional[str] = None,
              extras: Optional[list[dict]] = None, experiment: Optional[dict] = None) -> list[dict]:
    """Jobs to queue, in `experiment` (ftlab.experiments.new_experiment) where given; `extras` (one
    dict per config) adds fields such as a tuning trial's study and experiment."""
    priority = inbox.check_priority(priority)
    return [{"id": new_job_id(), "config": c.to_dict(), "config_hash": c.hash, "priority": priority,
             "owner": owner, "time": time.time(), **({"experiment": experiment} if experiment else {}), **(extra or {})}
            for c, extra in zip(configs, extras or [None] * len(configs))]


RETRYABLE = ("failed", "canceled", "interrupted")


def check_retry(job: dict) -> None:
    """FtlabError unless `job` may be retried: a failed, canceled or interrupted job. A succeeded
    job keeps its result (run it again as a new job); a pruned trial belongs to its study."""
    if job["status"] not in RETRYABLE:
        extra = " (to run it again, queue it anew: Re-run on the Run tab, or ftlab submit)" \
            if job["status"] == "succeeded" else ""
        raise FtlabError(f"job {job['id']} is {job['status']}; only a failed, canceled or interrupted job can be "
                         f"retried{extra}")


@dataclass
class Running:
    """A job this scheduler started: its handle, and what its worker has sent so far."""

    handle: object
    slot: str
    run_id: int
    log_path: str
    total_steps: Optional[int] = None
    pending: list = field(default_factory=list)  # events taken from the handle, not yet in the store
    finished: Optional[dict] = None  # the worker's `finished` event
    failure: Optional[str] = None  # the reason the worker reported in `failed`
    error: Optional[str] = None  # why the scheduler itself fails the job
    canceled: bool = False  # by its user
    pruned: bool = False  # stopped by its tuning study (its validation scores trailed)
    signaled: bool = False  # told to stop by this scheduler (a cancel, a stop, an error)


class FailedStart:
    """The handle of a job its backend could not start: a worker that failed at once, with the reason."""

    pid = None

    def __init__(self, reason: str):
        self.events = [{"event": "failed", "time": time.time(), "error": reason, "summary": {}}]

    def drain(self) -> list[dict]:
        out, self.events = self.events, []
        return out

    def exit_code(self) -> int:
        return EXIT_FAILED

    def cancel(self) -> None:
        pass


class Scheduler:
    max_crash_retries = 2

    def __init__(self, store: Store, db_path: str, *, backend=None, slots: Optional[list[str]] = None,
                 jobs_per_gpu: int = 1, cpu_slots: int = 1, spare_workers: bool = False):
        self.store, self.db_path = store, db_path
        self.slots = slots or device_slots(jobs_per_gpu, cpu_slots)
        self.backend = backend or LocalBackend(self.slots, spare_workers=spare_workers)
        self.running: dict[str, Running] = {}
        self.crashes: dict[str, int] = {}  # job id -> re-queues after its worker was killed
        self.health: Optional[str] = None  # None, or the line saying what the loop is retrying
        self.inbox_tries: dict[str, int] = {}  # command file -> ticks it failed on a database error
        self.artifacts = artifacts_dir(db_path)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.snapshot = inbox.SnapshotWriter(db_path)
        # Trackers (RunConfig.report_to) see the events this process records, never the workers.
        self.mirror = tracking.Mirror(db_path, lambda run_id: self.store.get_run(run_id)["config"],
                                      lambda run_id, message: self.store.record_event(
                                          run_id, {"event": "log", "time": time.time(), "message": message}))
        _inject_store_fault(store)
        self.recover()
        self.tuner = Tuner(store, self._submit_tuning, self.prune)

    # ---- commands (the service calls these in-process; other processes go through the inbox) ----

    def submit(self, configs: list[RunConfig], priority: int = 0, owner: Optional[str] = None,
               experiment: Optional[dict] = None) -> list[str]:
        specs = job_specs(configs, priority, owner, experiment=experiment)
        self.store.add_jobs(specs)
        return [s["id"] for s in specs]

    def cancel(self, job_id: str) -> str:
        with self.lock:
            job = self.store.get_job(job_id)
            if job["status"] == "queued":  # with the run of an attempt before, if any
                self.store.cancel_queued([job_id], "canceled while queued")
                return "canceled"
            if job["status"] == "running" and job_id in self.running:
                self.running[job_id].canceled = True
                self._signal(job_id)
                return "canceling"
            raise FtlabError(f"job {job_id} is {job['status']}; only queued or running jobs can be canceled")

    def cancel_many(self, job_ids: list[str]) -> dict[str, str]:
        """Cancel several jobs: the queued ones in one store transaction, before any of them can start
        (one by one, the scheduler would start the next while the user cancels the head), then the
        running ones. Returns {job id: outcome}; a job in another state says why it was left."""
        with self.lock:
            ids = list(dict.fromkeys(job_ids))
            done = set(self.store.cancel_queued(ids, "canceled while queued"))
            out = {}
            for job_id in ids:
                if job_id in done:
                    out[job_id] = "canceled"
                    continue
                try:
                    out[job_id] = self.cancel(job_id)
                except FtlabError as err:
                    out[job_id] = str(err)
            return out

    def prune(self, job_id: str) -> None:
        """Stop a running tuning trial; it ends `pruned`."""
        if job_id in self.running:
            self.running[job_id].pruned = True
            self._signal(job_id)

    def _submit_tuning(self, items: list) -> list[str]:
        specs = job_specs([c for c, _ in items], extras=[extra for _, extra in items])
        self.store.add_jobs(specs)
        return [s["id"] for s in specs]

    def retry(self, job_id: str) -> str:
        job = self.store.get_job(job_id)
        check_retry(job)
        self.store.update_job(job_id, status="queued", error=None, finished_at=None, step=None, eta_s=None)
        return "queued"

    def set_priority(self, job_id: str, priority: int) -> None:
        priority = inbox.check_priority(priority)
        job = self.store.get_job(job_id)
        if job["status"] != "queued":
            raise FtlabError(f"job {job_id} is {job['status']}; priority can change only while queued")
        self.store.update_job(job_id, priority=priority)

    # ---- the loop ---------------------------------------------------------------------------

    def recover(self) -> None:
        for job in self.store.jobs_records(status=["running", "interrupted"]):
            kill_stale_worker(job.get("pid"))
            run = self._run_of(job)
            if job["status"] == "running" and run.get("status") in ("succeeded", "canceled"):
                # its worker's last event reached the store before the scheduler died
                self.store.update_job(job["id"], status=run["status"], pid=None, finished_at=time.time(), eta_s=None)
                continue
            if run:
                self.store.set_status(run["id"], "interrupted", "the scheduler stopped while it ran")
            self.store.update_job(job["id"], status="queued", pid=None,
                                  error="interrupted: re-queued when the scheduler started again")

    def _run_of(self, job: dict) -> dict:
        """The job's run, or {} if it has none (not started, or its run was deleted since)."""
        try:
            return self.store.get_run(job["run_id"]) if job.get("run_id") is not None else {}
        except FtlabError:
            return {}

    def tick(self) -> None:
        with self.lock:
            self._apply_inbox()
            for job_id in list(self.running):
                try:
                    self._pump(job_id)
                except DatabaseError:
                    raise
                except Exception as err:  # noqa: BLE001 - this job's handle broke: it fails, the rest go on
                    self._give_up(job_id, err)
            self.tuner.tick()
            free = self._free_slots()
            if free:
                for job, slot in zip(self.store.next_jobs(len(free)), free):
                    self._start(job, slot)
            if hasattr(self.backend, "refill"):  # the local backend's spare workers
                self.backend.refill()
            self.snapshot.write(self.store, scheduler=self.health)

    def run(self, *, until_empty: bool = False, stop: Optional[threading.Event] = None, poll_s: float = 0.2) -> None:
        """Tick until `stop` is set (with until_empty: until no job is queued or running). No error
        ends the loop: a failed tick is retried with backoff, `health` saying why (see the module doc)."""
        stop = stop or threading.Event()
        failures = 0
        while not stop.is_set():
            try:
                self.tick()
                if until_empty and not self.running and not self.store.next_jobs(1) and not self.tuner.active():
                    break
            except Exception as err:  # noqa: BLE001 - shown and retried, never the end of the queue
                failures += 1
                self._report(err, failures)
                stop.wait(min(MAX_BACKOFF_S, poll_s * 2 ** failures))
                continue
            if failures:
                failures = 0
                self._report(None, 0)
            stop.wait(poll_s)

    def shutdown(self) -> None:
        """Stop running jobs; each ends `interrupted` (queued again when a scheduler starts on this
        database), or as its worker reached if it got there first."""
        with self.lock:
            try:
                for job_id in self.running:
                    self._signal(job_id)
                deadline = time.monotonic() + 10
                while self.running and time.monotonic() < deadline:
                    for job_id in list(self.running):
                        try:
                            self._pump(job_id, shutting_down=True)
                        except Exception as err:  # noqa: BLE001 - the store still says running: recover() re-queues it
                            log.warning("job %s: not recorded as stopped (%s)", job_id, one_line(err))
                            del self.running[job_id]
                    time.sleep(0.1)
            finally:
                self.backend.close()

    # ---- internals ----------------------------------------------------------------------------

    def _report(self, err: Optional[Exception], failures: int) -> None:
        """Say what the loop is retrying (err), or that it works again (None): `health`, the log, the snapshot."""
        if err is None:
            self.health = None
            log.warning("scheduler: working again")
        else:
            what = "database error" if isinstance(err, DatabaseError) else "error"
            self.health = f"scheduler: {what}, retrying ({failures}): {one_line(err)}"
            log.warning(self.health, exc_info=None if isinstance(err, DatabaseError) else err)
        try:
            inbox.write_scheduler_status(self.db_path, self.health)
        except OSError:
            pass

    def _free_slots(self) -> list[str]:
        free = list(self.slots)
        for live in self.running.values():
            free.remove(live.slot)
        return free

    def _apply_inbox(self) -> None:
        """Each command in order, its file removed once applied; one that can never apply (checked
        again here: another tool may have written it) is set aside with its reason, and so is one
        whose values the database refuses; a database error leaves it and those after it for the
        next tick, and while the database answers otherwise (the error is this command's) at most
        inbox.MAX_TRIES times: an outage of the database never sets a command aside."""
        for path in inbox.pending(self.db_path):
            try:
                self._apply(inbox.read(path))
            except FileNotFoundError:
                continue
            except BadValueError as err:  # e.g. a number out of its column's range: never retried
                self._set_aside(path, f"the database refused its values: {one_line(err)}")
                continue
            except DatabaseError as err:
                if not self.store.answers():  # the database itself is down: no command is to blame
                    raise
                tries = self.inbox_tries[path.name] = self.inbox_tries.get(path.name, 0) + 1
                if tries < inbox.MAX_TRIES:
                    raise
                self._set_aside(path, f"failed {tries} times on a database error: {one_line(err)}")
                continue
            except Exception as err:  # noqa: BLE001 - not JSON, unknown op, no such job, wrong state
                self._set_aside(path, one_line(err))
                continue
            self.inbox_tries.pop(path.name, None)
            inbox.done(path)

    def _set_aside(self, path, reason: str) -> None:
        log.warning("inbox: %s set aside: %s", path.name, reason)
        self.inbox_tries.pop(path.name, None)
        inbox.reject(self.db_path, path, reason)

    def _apply(self, command: dict) -> None:
        op = command.get("op")
        if op == "submit":
            self.store.add_jobs(command["jobs"])
        elif op == "cancel" and "jobs" in command:
            self.cancel_many(command["jobs"])
        elif op == "cancel":
            self.cancel(command["job"])
        elif op == "retry":
            self.retry(command["job"])
        elif op == "priority":
            self.set_priority(command["job"], command["priority"])
        elif op == "study":
            self.store.add_studies(command["studies"])
        elif op == "rename":
            self.store.rename_experiment(command["experiment"], command["name"])
        else:
            raise FtlabError(f"unknown command {op!r}; one of {', '.join(inbox.OPS)}")

    def _start(self, job: dict, slot: str) -> None:
        log_path = str(self.artifacts / f"job-{job['id']}.log")
        try:
            config = RunConfig(**job["config"])
            run = dict(config=config.to_dict(), config_hash=config.hash, model=config.model, dataset=config.dataset,
                       task=config.task, method=config.method, seed=config.seed, versions=versions())
            kept = saved_steps(run_dir(self.db_path, job["run_id"])) if job.get("run_id") else []
            run_id = self.store.start_job(job["id"], run, keep_through_step=max(kept, default=0), device=slot,
                                          pid=None, attempts=job["attempts"] + 1,
                                          started_at=time.time(), finished_at=None, error=None, log_path=log_path,
                                          step=0)
        except DatabaseError:
            raise
        except Exception as err:  # noqa: BLE001 - e.g. its uploaded file is gone, its method removed since
            self.store.update_job(job["id"], status="failed", error=one_line(err), finished_at=time.time())
            return
        spec = {"config": config.to_dict(), "artifact_dir": str(run_dir(self.db_path, run_id))}
        try:
            handle = self.backend.start(spec, slot, log_path)
        except Exception as err:  # noqa: BLE001 - the backend refused it: it fails like a worker that died at once
            log.warning("job %s could not start: %s", job["id"], one_line(err))
            handle = FailedStart(f"the job could not start: {one_line(err)}")
        self.running[job["id"]] = Running(handle, slot, run_id, log_path)
        if getattr(handle, "pid", None) is not None:
            self.store.update_job(job["id"], pid=handle.pid)

    def _signal(self, job_id: str) -> None:
        live = self.running[job_id]
        live.signaled = True
        live.handle.cancel()

    def _pump(self, job_id: str, shutting_down: bool = False) -> None:
        live = self.running[job_id]
        live.pending += live.handle.drain()
        code = live.handle.exit_code()
        if code is not None:
            live.pending += live.handle.drain()  # whatever arrived between the drain and the exit
        while live.pending:  # an event leaves `pending` once it is in the store
            try:
                self._record(job_id, live, live.pending[0])
            except DatabaseError:
                raise
            except Exception as err:  # noqa: BLE001 - an event that cannot be recorded: the job fails
                if live.error is None:
                    live.error = f"the scheduler could not record its event: {one_line(err)}"
                    self._signal(job_id)
            live.pending.pop(0)
        if code is not None:
            self._end(job_id, live, code, shutting_down)

    def _end(self, job_id: str, live: Running, code: int, shutting_down: bool) -> None:
        job = self.store.get_job(job_id)
        tail, now = _tail(live.log_path), time.time()
        status, reason = self._outcome(job, live, code, shutting_down)
        self.mirror.end(live.run_id, status if status in ("succeeded", "canceled", "interrupted") else "failed")
        if status == "succeeded":
            self.store.update_job(job_id, status="succeeded", pid=None, finished_at=now, eta_s=0, last_log=tail)
        elif status == "oom":
            self._fall_back(job, reason)
        elif status == "crashed":
            self.store.set_status(live.run_id, "interrupted", reason)
            self.store.update_job(job_id, status="queued", pid=None, error=reason, last_log=tail, eta_s=None)
            self.crashes[job_id] = self.crashes.get(job_id, 0) + 1
        else:  # failed, canceled, interrupted, pruned
            self.store.set_status(live.run_id, status, reason)
            self.store.update_job(job_id, status=status, pid=None, finished_at=now, error=reason, last_log=tail,
                                  eta_s=None)
        del self.running[job_id]

    def _outcome(self, job: dict, live: Running, code: int, shutting_down: bool) -> tuple[str, Optional[str]]:
        """(status, reason) of a job whose worker exited with `code` (see the module doc); status may
        also be "oom" or "crashed" (re-queued)."""
        if live.error:
            return "failed", live.error
        if live.pruned:
            return "pruned", "pruned: its validation score trailed the study's other trials"
        stopped = ((live.finished or {}).get("summary") or {}).get("stopped_reason")
        if live.finished is not None and stopped != "canceled" and (code == EXIT_OK or live.signaled):
            return "succeeded", None
        if live.canceled:
            return "canceled", "canceled by the user"
        if shutting_down:
            return "interrupted", "interrupted: the scheduler was stopped"
        if code == EXIT_OOM and next_fallback(RunConfig(**job["config"])) is not None:
            return "oom", live.failure
        if code < 0 and live.failure is None and not live.signaled:
            tries = self.crashes.get(job["id"], 0)
            if tries < self.max_crash_retries:
                return "crashed", (f"worker exited with status {code} (killed by {_signal_name(-code)}); "
                                   f"re-queued ({tries + 1} of {self.max_crash_retries})")
        if live.failure:
            return "failed", live.failure
        if code == EXIT_OK:
            return "failed", "the worker exited without reporting a result (see its log)"
        return "failed", f"worker exited with status {code} (see its log)"

    def _give_up(self, job_id: str, err: Exception) -> None:
        """A job whose handle keeps failing: stop its worker and fail it now, without waiting for its exit."""
        log.error("job %s: %s", job_id, one_line(err), exc_info=err)
        live = self.running[job_id]
        try:
            live.handle.cancel()
        except Exception:  # noqa: BLE001 - it is failed either way
            pass
        reason = f"the scheduler lost this job's worker: {one_line(err)}"
        if self._run_of({"run_id": live.run_id}):  # not deleted meanwhile
            self.store.set_status(live.run_id, "failed", reason)
        self.store.update_job(job_id, status="failed", pid=None, finished_at=time.time(), error=reason)
        del self.running[job_id]

    def _fall_back(self, job: dict, error: Optional[str]) -> None:
        """Out of memory: queued again with the run's next allowed fallback (ftlab.queue.fallback),
        to resume from its last checkpoint."""
        retry, what = next_fallback(RunConfig(**job["config"]))
        note = f"out of memory; retrying from the last checkpoint with {what}"
        self.store.record_event(job["run_id"], {"event": "log", "time": time.time(), "message": note})
        self.store.update_job(job["id"], status="queued", pid=None, config=retry.to_dict(), config_hash=retry.hash,
                              oom_retries=job["oom_retries"] + 1, error=note)

    def _record(self, job_id: str, live: Running, event: dict) -> None:
        self.store.record_event(live.run_id, event)
        self.mirror.event(live.run_id, event)
        kind = event["event"]
        if kind == "failed":  # the reason, kept until the process has exited
            live.failure = event.get("error")
        elif kind == "finished":  # a finished job shows the run's average speed, the figure Compare shows
            live.finished = event
            self.store.update_job(job_id, samples_per_s=(event.get("summary") or {}).get("train_samples_per_s"))
        elif kind == "started":
            live.total_steps = event.get("total_steps")
            self.store.update_job(job_id, total_steps=event.get("total_steps"), device=event.get("device"))
        elif kind == "step":
            total, step, elapsed = live.total_steps or 0, event["step"], event.get("elapsed_s") or 0
            eta = (total - step) * elapsed / step if step and total else None
            self.store.update_job(job_id, step=step, samples_per_s=event.get("samples_per_s"),
                                  last_loss=event.get("loss"), eta_s=eta, phase=None)
        elif kind == "progress":  # an evaluation pass: no ETA from the training steps while it runs
            phase = {k: event.get(k) for k in ("split", "done", "total")}
            self.store.update_job(job_id, phase=None if phase["done"] >= phase["total"] else phase, eta_s=None)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _inject_store_fault(store: Store) -> None:
    """Test hook: FTLAB_FAULT_DB_ERROR=METHOD:N makes the Nth call of store.METHOD raise a
    DatabaseError, once (the fault test's database error in the middle of a tick)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    real, calls = getattr(store, name), itertools.count(1)

    def faulty(*args, **kwargs):
        if next(calls) == int(nth or 1):
            raise DatabaseError(f"simulated by {FAULT_ENV}={spec}")
        return real(*args, **kwargs)

    setattr(store, name, faulty)


def _tail(path: Optional[str], lines: int = LOG_TAIL) -> Optional[str]:
    if not path or not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 8000))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])
