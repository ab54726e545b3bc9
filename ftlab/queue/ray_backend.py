"""Jobs as Ray tasks: the same worker subprocess, on whichever node of a Ray cluster has room.

Each job is one Ray task that runs `python -m ftlab.queue.worker` on its node, exactly as the
local backend runs it, and forwards the worker's stdout (events) and stderr (log lines) to the
scheduler through ONE `ray.util.queue.Queue` shared by all jobs, each item tagged with its job.
One queue, not one per job: the queue is an actor, a process of its own that takes ~0.5-1 s to
start here; it reserves no CPU (num_cpus=0), so it never competes with training for a slot.

The scheduler side sorts the items to their job handles, writes log lines to the job's log file
as they arrive (so `ftlab log JOB` follows a Ray job too) and hands events to the scheduler.

    RayBackend(address)  ->  slots(jobs_per_gpu)  ->  start(spec, slot, log_path) -> RayJob
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from typing import Optional

from ftlab.errors import FtlabError
from ftlab.queue.backends import WORKER_COMMAND, read_lines, worker_env
from ftlab.queue.worker import EXIT_CANCELED, EXIT_FAILED

RAY_MISSING = "the Ray backend needs ray: pip install 'ray[default]'==2.60.0"

# A CPU job reserves 2 Ray CPUs and there is one CPU slot per 2 cluster CPUs. Ray sets
# OMP_NUM_THREADS to the task's CPU count, so a 1-CPU task would train on one thread; 2 keeps torch
# usefully parallel while jobs still run side by side on a big node, and makes the scheduler's slot
# count and Ray's CPU accounting agree (no job sits "running" while Ray holds it pending).
CPUS_PER_CPU_JOB = 2


def _import_ray():
    try:
        import ray
    except ImportError as err:
        raise FtlabError(RAY_MISSING) from err
    return ray


class _Tagged:
    """A sink for `read_lines` that puts each event into the shared queue under the job's key."""

    def __init__(self, events, key: str):
        self.events, self.key = events, key

    def put(self, event: dict) -> None:
        self.events.put((self.key, "event", event))


def _run_worker(spec: dict, key: str, events, cpu_only: bool) -> int:
    """The Ray task, run in a Ray worker process: the ftlab worker as its child; returns its exit status.

    The child sets PR_SET_PDEATHSIG, so when Ray kills this process (cancel, node loss) it dies too.
    `events.put` is synchronous: once this returns, every line the job printed is in the queue.
    """
    env = worker_env()  # Ray set CUDA_VISIBLE_DEVICES (GPU tasks) and OMP_NUM_THREADS here
    if cpu_only:
        env["CUDA_VISIBLE_DEVICES"] = ""  # Ray leaves it unset for GPU-less tasks: torch would see every GPU
    proc = subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, errors="replace")
    proc.stdin.write(json.dumps(spec))
    proc.stdin.close()

    def forward_log() -> None:
        for line in proc.stderr:
            events.put((key, "log", line.rstrip("\n")))

    log = threading.Thread(target=forward_log, daemon=True)
    log.start()
    read_lines(proc.stdout, _Tagged(events, key))
    log.join()
    return proc.wait()


class RayJob:
    """The scheduler's handle on one Ray task; the same interface as `backends.LocalJob`."""

    pid = None  # the worker lives on some Ray node: it is reached through Ray, never by a local pid

    def __init__(self, backend: "RayBackend", key: str, log_path: str):
        self.backend, self.key = backend, key
        self.ref = None
        self.cancel_at: Optional[float] = None
        self.events: list[dict] = []
        self.log = open(log_path, "a", encoding="utf-8", buffering=1)  # line-buffered: readable at once
        self.code: Optional[int] = None

    def receive(self, kind: str, item) -> None:
        if kind == "event":
            self.events.append(item)
        else:
            self.log.write(item + "\n")

    def drain(self) -> list[dict]:
        self.backend.pull()
        out, self.events = self.events, []
        return out

    def exit_code(self) -> Optional[int]:
        """None while running; the exit status once the task ended and all its output was pulled."""
        if self.code is not None:
            return self.code
        ray = self.backend.ray
        done, _ = ray.wait([self.ref], timeout=0)
        if not done:
            return None
        try:
            code = ray.get(self.ref)
        except ray.exceptions.RayError as err:  # canceled, worker or node died, or the task failed to start
            code = EXIT_CANCELED if self.cancel_at is not None else EXIT_FAILED
            if self.cancel_at is None:
                self.log.write(f"ray: the task ended without an exit status: {str(err)[:2000]}\n")
        self.backend.pull()  # the task's last lines (see _run_worker)
        self.backend.jobs.pop(self.key, None)
        self.log.close()
        self.code = code
        return code

    def cancel(self) -> None:
        if self.cancel_at is None:
            self.cancel_at = time.monotonic()
            # force: kill the Ray worker process; the ftlab worker dies with it (PDEATHSIG)
            self.backend.ray.cancel(self.ref, force=True)


class RayBackend:
    name = "ray"

    def __init__(self, address: Optional[str] = None):
        """Connect to a Ray cluster ("auto", "ray://head:10001"), or start a local Ray on this machine."""
        self.ray = ray = _import_ray()
        self.started = not ray.is_initialized()  # False: this process already had Ray; leave it alone
        if self.started and address:
            # Ship this ftlab to every node, so a cluster runs the driver's code (torch & co. must be there).
            package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../ftlab
            try:
                ray.init(address=address, log_to_driver=False, runtime_env={"py_modules": [package_dir]})
            except ConnectionError as err:
                # Ray 2.60 clusters use token auth by default; a driver only sends the token in token mode
                raise FtlabError(f"cannot connect to the Ray cluster at {address} ({err}); if it uses token "
                                 "authentication, set RAY_AUTH_MODE=token (token in ~/.ray/auth_token)") from err
        elif self.started:
            # log_to_driver off: job output travels through the queue into its log, not onto our stderr
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        self.gpu_share = 1.0
        self.cpus_per_job = min(CPUS_PER_CPU_JOB, max(1, int(ray.cluster_resources().get("CPU", 1))))
        # retries are the scheduler's business (OOM -> half batch); Ray must not re-run a job behind its back
        self.task = ray.remote(max_retries=0)(_run_worker)
        from ray.util.queue import Queue

        self.queue = Queue(actor_options={"num_cpus": 0})
        self.jobs: dict[str, RayJob] = {}

    def slots(self, jobs_per_gpu: int = 1) -> list[str]:
        """Slots for the whole cluster: `jobs_per_gpu` per GPU, else one per CPUS_PER_CPU_JOB CPUs."""
        resources = self.ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        self.gpu_share = 1.0 / max(1, jobs_per_gpu)
        if gpus:
            return ["gpu"] * (gpus * max(1, jobs_per_gpu))
        return ["cpu"] * max(1, int(resources.get("CPU", 1)) // CPUS_PER_CPU_JOB)

    def start(self, spec: dict, device: str, log_path: str) -> RayJob:
        job = RayJob(self, uuid.uuid4().hex, log_path)
        self.jobs[job.key] = job
        cpu_only = device == "cpu"
        options = {"num_cpus": self.cpus_per_job} if cpu_only else {"num_cpus": 1, "num_gpus": self.gpu_share}
        job.ref = self.task.options(**options).remote(spec, job.key, self.queue, cpu_only)
        return job

    def pull(self) -> None:
        """Move everything in the shared queue to the handles it belongs to (one consumer: us)."""
        n = self.queue.qsize()
        if n:
            for key, kind, item in self.queue.get_nowait_batch(n):
                job = self.jobs.get(key)
                if job is not None:  # None: a job already reaped; its late lines are dropped
                    job.receive(kind, item)

    def close(self) -> None:
        """Stop the queue actor; shut down a Ray this backend started (for an address: disconnect only)."""
        if self.queue is None:
            return
        self.queue.shutdown(force=True)
        self.queue = None
        if self.started:
            self.ray.shutdown()
