"""Jobs inside a ZeroGPU Space's GPU allocation, in the dashboard's own process.

On ZeroGPU hardware a GPU exists only inside a function decorated with the `spaces` package's
`@spaces.GPU`, called from the Space's main process, for at most the decorator's `duration`. So
this backend runs the engine in-process through one such function per job (no worker
subprocess), with a duration sized from the job's time budget. The function is a generator of
the engine's events, which ZeroGPU streams back from its GPU process.

Where `spaces` is not installed (your machine, a CPU Space) `GPU_AVAILABLE_VIA_SPACES` is False and
the very same function runs undecorated on whatever device the engine finds: the code path the
tests take.

Cancel sets the engine's stop flag (it stops after the current step and evaluates what it has);
the exit status follows the local worker's: 0 succeeded, 1 failed, 3 CUDA out of memory,
143 canceled.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Iterator, Optional

from ftlab.errors import one_line
from ftlab.queue.backends import drain_queue
from ftlab.queue.worker import EXIT_CANCELED, EXIT_FAILED, EXIT_OK, run_spec

EXIT_EVENT = "exit"  # the last item job_events yields: {"event": "exit", "code": the worker's exit status}
OVERHEAD_S = 60  # model load, tokenization and the final evaluation, on top of the training budget
DEFAULT_BUDGET_S = 60


def gpu_duration(spec: dict) -> int:
    """Seconds of GPU to ask ZeroGPU for: the job's time budget plus the work around training."""
    budget = spec.get("config", {}).get("time_budget_s") or DEFAULT_BUDGET_S
    return int(budget) + OVERHEAD_S


def job_events(spec: dict) -> Iterator[dict]:
    """Train the spec's config here and yield its events (the worker's protocol, in-process).
    Closing the generator early stops the engine at its next step."""
    events: "queue.Queue[Optional[dict]]" = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            code = run_spec(spec, events.put, should_stop=stop.is_set)
        except BaseException as err:  # noqa: BLE001 - never leave the generator waiting
            events.put({"event": "failed", "time": time.time(), "summary": {}, "error": one_line(err)})
            code = EXIT_FAILED
        events.put({"event": EXIT_EVENT, "code": code})
        events.put(None)

    thread = threading.Thread(target=run, daemon=True, name="ftlab-zerogpu-job")
    thread.start()
    try:
        while (event := events.get()) is not None:
            yield event
    finally:
        stop.set()
        thread.join()


try:  # the `spaces` package exists on Hugging Face Spaces; on ZeroGPU it attaches the GPU
    import spaces  # type: ignore[import-not-found]
except ImportError:
    spaces = None
# getattr: in a source checkout `import spaces` may find the repository's spaces/ folder instead
_GPU = getattr(spaces, "GPU", None)
GPU_AVAILABLE_VIA_SPACES = _GPU is not None
gpu_job_events = _GPU(duration=gpu_duration)(job_events) if _GPU is not None else job_events


class ThreadJob:
    """One job: a thread that iterates `gpu_job_events` and queues the events for the scheduler."""

    pid = None  # nothing to kill after a crash: the job lived in the dashboard's process

    def __init__(self, spec: dict, log_path: str):
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.cancel_at: Optional[float] = None
        self.code: Optional[int] = None
        self.log_path = log_path
        self.thread = threading.Thread(target=self._run, args=(spec,), daemon=True, name="ftlab-zerogpu")
        self.thread.start()

    def _log(self, message: str) -> None:
        with open(self.log_path, "a") as f:
            f.write(message.rstrip("\n") + "\n")

    def _run(self, spec: dict) -> None:
        code = EXIT_FAILED
        self._log(f"zerogpu job: {'inside @spaces.GPU' if GPU_AVAILABLE_VIA_SPACES else 'spaces absent, in-process'}"
                  f", duration {gpu_duration(spec)} s")
        stream = gpu_job_events(spec)
        try:
            for event in stream:
                if event.get("event") == EXIT_EVENT:
                    code = event["code"]
                    continue
                if event.get("event") == "log":
                    self._log(str(event.get("message", "")))
                elif event.get("event") in ("finished", "failed"):
                    self._log(json.dumps({k: event.get(k) for k in ("event", "error")}))
                self.events.put(event)
                if event.get("event") == "finished":  # a cancel that comes after this does not undo it
                    code = EXIT_OK
                if self.cancel_at is not None:
                    break
        except Exception as err:  # noqa: BLE001 - e.g. ZeroGPU refused the allocation
            self._log(f"error: {type(err).__name__}: {err}")
            self.events.put({"event": "failed", "time": time.time(), "summary": {},
                             "error": f"GPU allocation failed: {err}"[:300]})
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
        self.code = EXIT_CANCELED if self.cancel_at is not None and code != 0 else code

    def drain(self) -> list[dict]:
        return drain_queue(self.events)

    def exit_code(self) -> Optional[int]:
        return None if self.thread.is_alive() else self.code

    def cancel(self) -> None:
        if self.cancel_at is None:
            self.cancel_at = time.monotonic()


class ZeroGPUBackend:
    """One slot: ZeroGPU gives a Space one GPU allocation at a time per call."""

    name = "zerogpu"
    slots = ["zerogpu"]

    def start(self, spec: dict, device: str, log_path: str) -> ThreadJob:
        return ThreadJob(spec, log_path)

    def close(self) -> None:
        pass
