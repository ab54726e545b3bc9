"""The scheduler: the one process that writes the database while jobs run.

Each tick it (1) takes commands other processes left in the inbox, (2) writes the events of
running jobs into the store, (3) reaps jobs that ended (OOM -> re-queued with half the batch and
twice the accumulation), (4) starts queued jobs, by priority then age, on free device slots, and
(5) writes a JSON snapshot of jobs and runs that other processes can read without the database.

On start it recovers from a crash: every job the store says is running belonged to a scheduler
that died; its worker is killed if still alive and the job is re-queued as `interrupted`, its
run reset, so no job runs twice at once and no metric is duplicated.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Optional

from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.provenance import artifacts_dir, versions
from ftlab.queue import inbox
from ftlab.queue.backends import LocalBackend, device_slots, kill_stale_worker
from ftlab.queue.worker import EXIT_OOM
from ftlab.store import Store

LOG_TAIL = 20


def new_job_id() -> str:
    return "j" + uuid.uuid4().hex[:10]


def job_specs(configs: list[RunConfig], priority: int = 0, owner: Optional[str] = None) -> list[dict]:
    return [{"id": new_job_id(), "config": c.to_dict(), "config_hash": c.hash, "priority": int(priority),
             "owner": owner, "time": time.time()} for c in configs]


class Scheduler:
    def __init__(self, store: Store, db_path: str, *, backend=None, slots: Optional[list[str]] = None,
                 jobs_per_gpu: int = 1, cpu_slots: int = 1, spare_workers: bool = False):
        self.store, self.db_path = store, db_path
        self.slots = slots or device_slots(jobs_per_gpu, cpu_slots)
        self.backend = backend or LocalBackend(self.slots, spare_workers=spare_workers)
        self.running: dict[str, tuple[object, str]] = {}  # job id -> (handle, device slot)
        self.failures: dict[str, Optional[str]] = {}  # job id -> the reason its worker reported
        self.artifacts = artifacts_dir(db_path)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.recover()

    # ---- commands (the service calls these in-process; other processes go through the inbox) ----

    def submit(self, configs: list[RunConfig], priority: int = 0, owner: Optional[str] = None) -> list[str]:
        specs = job_specs(configs, priority, owner)
        self.store.add_jobs(specs)
        return [s["id"] for s in specs]

    def cancel(self, job_id: str) -> str:
        with self.lock:
            job = self.store.get_job(job_id)
            if job["status"] == "queued":
                self.store.update_job(job_id, status="canceled", finished_at=time.time(), error="canceled while queued")
                return "canceled"
            if job["status"] == "running" and job_id in self.running:
                self.running[job_id][0].cancel()
                return "canceling"
            raise FtlabError(f"job {job_id} is {job['status']}; only queued or running jobs can be canceled")

    def retry(self, job_id: str) -> str:
        job = self.store.get_job(job_id)
        if job["status"] in ("queued", "running"):
            raise FtlabError(f"job {job_id} is {job['status']}; retry a failed, canceled or interrupted job")
        self.store.update_job(job_id, status="queued", error=None, finished_at=None, step=None, eta_s=None)
        return "queued"

    def set_priority(self, job_id: str, priority: int) -> None:
        job = self.store.get_job(job_id)
        if job["status"] != "queued":
            raise FtlabError(f"job {job_id} is {job['status']}; priority can change only while queued")
        self.store.update_job(job_id, priority=int(priority))

    # ---- the loop ---------------------------------------------------------------------------

    def recover(self) -> None:
        for job in self.store.jobs_records(status="running"):
            kill_stale_worker(job.get("pid"))
            if job.get("run_id"):
                self.store.set_status(job["run_id"], "interrupted", "the scheduler stopped while it ran")
            self.store.update_job(job["id"], status="queued", pid=None, error="interrupted: re-queued after a restart")

    def tick(self) -> None:
        with self.lock:
            for command in inbox.take(self.db_path):
                self._apply(command)
            for job_id in list(self.running):
                self._pump(job_id)
            free = self._free_slots()
            if free:
                for job, slot in zip(self.store.next_jobs(len(free)), free):
                    self._start(job, slot)
            if hasattr(self.backend, "refill"):  # the local backend's spare workers
                self.backend.refill()
            inbox.write_snapshot(self.db_path, self.store)

    def run(self, *, until_empty: bool = False, stop: Optional[threading.Event] = None, poll_s: float = 0.2) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            self.tick()
            if until_empty and not self.running and not self.store.next_jobs(1):
                break
            stop.wait(poll_s)

    def shutdown(self) -> None:
        """Stop running jobs (they are re-queued as interrupted when the scheduler starts again)."""
        with self.lock:
            for handle, _ in self.running.values():
                handle.cancel()
            deadline = time.monotonic() + 10
            while self.running and time.monotonic() < deadline:
                for job_id in list(self.running):
                    self._pump(job_id, shutting_down=True)
                time.sleep(0.1)
            self.backend.close()

    # ---- internals ----------------------------------------------------------------------------

    def _free_slots(self) -> list[str]:
        busy = [d for _, d in self.running.values()]
        free = list(self.slots)
        for d in busy:
            free.remove(d)
        return free

    def _apply(self, command: dict) -> None:
        try:
            op = command["op"]
            if op == "submit":
                self.store.add_jobs(command["jobs"])
            elif op == "cancel":
                self.cancel(command["job"])
            elif op == "retry":
                self.retry(command["job"])
            elif op == "priority":
                self.set_priority(command["job"], command["priority"])
        except (FtlabError, KeyError, ValueError):
            pass  # the sender validated it; a stale command (job already ended) is dropped

    def _start(self, job: dict, slot: str) -> None:
        try:
            config = RunConfig(**job["config"])
        except FtlabError as err:  # e.g. a method removed since the job was queued
            self.store.update_job(job["id"], status="failed", error=str(err), finished_at=time.time())
            return
        run_id = job.get("run_id")
        if run_id is None:
            run_id = self.store.create_run(config.to_dict(), config.hash, model=config.model, dataset=config.dataset,
                                           task=config.task, method=config.method, seed=config.seed,
                                           versions=versions(), status="queued")
        else:
            self.store.reset_run(run_id, config.to_dict(), config.hash)
        log_path = str(self.artifacts / f"job-{job['id']}.log")
        spec = {"config": config.to_dict(), "artifact_dir": str(self.artifacts / f"run-{run_id}")}
        started = time.time()  # the job starts when its handover does
        handle = self.backend.start(spec, slot, log_path)
        self.running[job["id"]] = (handle, slot)
        self.store.update_job(job["id"], status="running", run_id=run_id, device=slot, pid=getattr(handle, "pid", None),
                              attempts=job["attempts"] + 1, started_at=started, finished_at=None, error=None,
                              log_path=log_path, step=0)

    def _pump(self, job_id: str, shutting_down: bool = False) -> None:
        handle, _ = self.running[job_id]
        job = self.store.get_job(job_id)
        run_id = job["run_id"]
        for event in handle.drain():
            self._record(job, run_id, event)
        code = handle.exit_code()
        if code is None:
            return
        for event in handle.drain():  # whatever arrived between the drain and the exit
            self._record(job, run_id, event)
        error = self.failures.pop(job_id, None)
        del self.running[job_id]
        tail = _tail(job.get("log_path"))
        now = time.time()
        if shutting_down:
            self.store.set_status(run_id, "interrupted", "the scheduler was stopped")
            self.store.update_job(job_id, status="interrupted", pid=None, finished_at=now, last_log=tail,
                                  error="interrupted: the scheduler was stopped")
        elif handle.cancel_at is not None:
            self.store.set_status(run_id, "canceled", "canceled by the user")
            self.store.update_job(job_id, status="canceled", pid=None, finished_at=now, last_log=tail,
                                  error="canceled by the user", eta_s=None)
        elif code == 0:
            self.store.update_job(job_id, status="succeeded", pid=None, finished_at=now, eta_s=0, last_log=tail)
        elif code == EXIT_OOM and RunConfig(**job["config"]).batch_size > 1:
            self._retry_smaller(job, error)
        else:
            reason = error or f"worker exited with status {code} (see its log)"
            if run_id is not None and error is None:
                self.store.set_status(run_id, "failed", reason)
            self.store.update_job(job_id, status="failed", pid=None, finished_at=now, error=reason, last_log=tail)

    def _retry_smaller(self, job: dict, error: Optional[str]) -> None:
        """CUDA OOM: half the per-device batch, twice the accumulation: the same effective batch."""
        config = RunConfig(**job["config"])
        smaller = config.replace(batch_size=config.batch_size // 2, grad_accum=config.grad_accum * 2)
        note = (f"CUDA out of memory at batch {config.batch_size}; retrying with batch {smaller.batch_size} "
                f"x accumulation {smaller.grad_accum}")
        self.store.record_event(job["run_id"], {"event": "log", "time": time.time(), "message": note})
        self.store.update_job(job["id"], status="queued", pid=None, config=smaller.to_dict(), config_hash=smaller.hash,
                              oom_retries=job["oom_retries"] + 1, error=note)

    def _record(self, job: dict, run_id: int, event: dict) -> None:
        self.store.record_event(run_id, event)
        kind = event["event"]
        if kind == "failed":  # the reason, kept until the process has exited
            self.failures[job["id"]] = event.get("error")
        if kind == "finished":  # a finished job shows the run's average speed, the figure Compare shows
            self.store.update_job(job["id"], samples_per_s=(event.get("summary") or {}).get("train_samples_per_s"))
        if kind == "started":
            self.store.update_job(job["id"], total_steps=event.get("total_steps"), device=event.get("device"))
            job["total_steps"] = event.get("total_steps")
        elif kind == "step":
            total, step, elapsed = job.get("total_steps") or 0, event["step"], event.get("elapsed_s") or 0
            eta = (total - step) * elapsed / step if step and total else None
            self.store.update_job(job["id"], step=step, samples_per_s=event.get("samples_per_s"),
                                  last_loss=event.get("loss"), eta_s=eta)


def _tail(path: Optional[str], lines: int = LOG_TAIL) -> Optional[str]:
    if not path or not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 8000))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


