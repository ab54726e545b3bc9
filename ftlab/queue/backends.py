"""Where jobs execute: local subprocesses, or Ray tasks on a cluster.

A backend starts a job from a spec ({"config": dict, "artifact_dir": str}) on a device slot and
returns a handle the scheduler polls for events and the exit status, and can cancel. Both
backends run the same worker (`python -m ftlab.queue.worker`), so a job behaves the same
everywhere; only the transport of its events differs.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

CANCEL_GRACE_S = 3.0  # SIGTERM, then SIGKILL of the whole process group after this


def gpu_count() -> int:
    """Visible GPUs, without importing torch (the dashboard process stays light)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def device_slots(jobs_per_gpu: int = 1, cpu_slots: int = 1) -> list[str]:
    """One slot per GPU (repeated jobs_per_gpu times so small PEFT runs share it), else the CPU."""
    n = gpu_count()
    if n:
        return [f"cuda:{i}" for i in range(n) for _ in range(jobs_per_gpu)]
    return ["cpu"] * cpu_slots


WORKER_COMMAND = [sys.executable, "-m", "ftlab.queue.worker"]


def worker_env() -> dict:
    """This process's environment, plus ftlab's location on PYTHONPATH: the worker imports the
    same ftlab as its parent whatever the current directory (an installed, shipped or source one)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def read_lines(stream, sink: "queue.Queue[dict]") -> None:
    for line in stream:
        line = line.strip()
        if not line:
            continue
        try:
            sink.put(json.loads(line))
        except json.JSONDecodeError:
            sink.put({"event": "log", "time": time.time(), "message": line[:500]})
    stream.close()


def drain_queue(events: "queue.Queue[dict]") -> list[dict]:
    """Every event waiting in a job's queue, without blocking."""
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


class LocalJob:
    """A worker subprocess in its own process group; events arrive on a reader thread."""

    def __init__(self, spec: dict, device: str, log_path: str, cpu_threads: Optional[int] = None):
        env = worker_env()
        if device.startswith("cuda"):
            env["CUDA_VISIBLE_DEVICES"] = device.split(":")[1]
        else:
            env["CUDA_VISIBLE_DEVICES"] = ""
            if cpu_threads:
                env["OMP_NUM_THREADS"] = str(cpu_threads)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env, text=True,
                                     start_new_session=True)
        self.pid = self.proc.pid
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.proc.stdin.write(json.dumps(spec))
        self.proc.stdin.close()
        self.reader = threading.Thread(target=read_lines, args=(self.proc.stdout, self.events), daemon=True)
        self.reader.start()
        self.cancel_at: Optional[float] = None

    def drain(self) -> list[dict]:
        return drain_queue(self.events)

    def exit_code(self) -> Optional[int]:
        """None while running; the exit status once the process ended AND every event was read."""
        code = self.proc.poll()
        if code is None:
            if self.cancel_at and time.monotonic() - self.cancel_at > CANCEL_GRACE_S:
                self._signal(signal.SIGKILL)
            return None
        self.reader.join(timeout=5)
        self.log.close()
        return code

    def cancel(self) -> None:
        if self.cancel_at is None:
            self.cancel_at = time.monotonic()
            self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class LocalBackend:
    name = "local"

    def __init__(self, slots: list[str]):
        self.slots = slots
        cpu = slots.count("cpu")
        self.cpu_threads = max(1, (os.cpu_count() or 1) // cpu) if cpu > 1 else None

    def start(self, spec: dict, device: str, log_path: str) -> LocalJob:
        return LocalJob(spec, device, log_path, self.cpu_threads)

    def close(self) -> None:
        pass


def kill_stale_worker(pid: Optional[int]) -> bool:
    """After a scheduler crash: kill a worker it left behind, if that pid is still one of ours."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"ftlab.queue.worker" not in f.read():
                return False
        os.killpg(pid, signal.SIGKILL)
        return True
    except (OSError, ProcessLookupError):
        return False
