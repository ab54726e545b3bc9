"""One job in its own process: `python -m ftlab.queue.worker` (spec JSON on stdin, events on stdout).

The worker imports the engine's dependencies (`ftlab.train.preload`) before it reads its spec,
so a queue can start one ahead of time, a spare that waits on stdin with ~7 s of imports paid,
and hand it the next job. A spec's `log_path` sends the worker's stderr to that job's log from
then on (a spare is started before its job's log exists).

Each job runs the core engine in a subprocess with its own process group, so a crash, a CUDA
out-of-memory or a cancel never takes the scheduler down, and the GPU memory goes back to the
driver when the process ends. Events are JSON lines on stdout; everything else (warnings,
progress) goes to stderr, which the scheduler keeps as the job's log.

Exit status: 0 succeeded, 1 failed, 3 CUDA out of memory (the scheduler retries with the run's
next fallback, ftlab.queue.fallback), 143 canceled (SIGTERM).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_OOM, EXIT_CANCELED = 0, 1, 3, 143  # every backend reports these


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the scheduler dies (even kill -9), so no orphan keeps a GPU busy."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _log_to(path: str) -> None:
    """Point fd 2 (and so sys.stderr and sys.stdout, which writes there) at the job's log."""
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


def _fault_injection(config) -> None:
    """Test hook: FTLAB_FAULT_OOM_ABOVE_BATCH=N raises a CUDA OOM for batch sizes above N."""
    limit = os.environ.get("FTLAB_FAULT_OOM_ABOVE_BATCH")
    if limit and config.batch_size > int(limit):
        import torch

        raise torch.cuda.OutOfMemoryError(f"simulated: batch {config.batch_size} > {limit}")


def _memory_limit(emit):
    """Test hook: FTLAB_FAULT_MEMORY_LIMIT_MB=N makes the worker enforce a memory limit: a run whose
    own estimated memory (ftlab.models.memory's peak less the process's share, from its `started`
    event) is over N MB runs out of memory at its step FTLAB_FAULT_OOM_AT_STEP (default 1), after
    the checkpoints before it were written."""
    limit = os.environ.get("FTLAB_FAULT_MEMORY_LIMIT_MB")
    if not limit:
        return emit
    at_step, seen = int(os.environ.get("FTLAB_FAULT_OOM_AT_STEP") or 1), {}

    def enforced(event: dict) -> None:
        emit(event)
        if event.get("event") == "started":
            memory = event.get("memory") or {}
            seen["peak"] = (memory.get("estimated_peak_mb") or 0) - (memory.get("process_mb") or 0)
        elif event.get("event") == "step" and event["step"] >= at_step and seen.get("peak", 0) > float(limit):
            import torch

            raise torch.cuda.OutOfMemoryError(f"simulated: estimated peak {seen['peak']:,.0f} MB over the "
                                              f"worker's limit of {float(limit):,.0f} MB")

    return enforced


def run_spec(spec: dict, emit, should_stop=None, *, fault_injection: bool = False) -> int:
    """Train the spec's config, sending its events to `emit`; returns the worker's exit status.
    The one place a job's config error, CUDA out-of-memory and failure become exit statuses (the
    local worker and the ZeroGPU backend's in-process jobs both run this)."""
    from ftlab.config import RunConfig
    from ftlab.errors import FtlabError, one_line

    failed_sent = False
    if fault_injection:
        emit = _memory_limit(emit)

    def send(event: dict) -> None:
        nonlocal failed_sent
        failed_sent = failed_sent or event.get("event") == "failed"
        emit(event)

    try:
        config = RunConfig(**spec["config"])
    except FtlabError as err:
        send({"event": "failed", "time": time.time(), "error": str(err), "summary": {}})
        return EXIT_FAILED
    import torch

    from ftlab.train import train

    try:
        if fault_injection:
            _fault_injection(config)
        train(config, send, artifact_dir=spec.get("artifact_dir"), should_stop=should_stop)
    except (torch.cuda.OutOfMemoryError, MemoryError) as err:  # a GPU's, or a CPU allocation refused
        if not failed_sent:
            send({"event": "failed", "time": time.time(), "error": one_line(err), "summary": {}})
        return EXIT_OOM
    except Exception:  # noqa: BLE001 - the engine already emitted `failed` with the reason
        return EXIT_FAILED
    return EXIT_OK


def main() -> int:
    _die_with_parent()
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the event stream

    def emit(event: dict) -> None:
        out.write(json.dumps(event, default=str) + "\n")
        out.flush()
        if event.get("event") == "log":  # the job's log (this process's stderr) reads as it goes
            print(time.strftime("%H:%M:%S ") + str(event.get("message")), file=sys.stderr, flush=True)

    born = time.monotonic()
    try:
        from ftlab.train.preload import preload

        imports = f"imports done in {preload():.1f} s"
    except Exception as err:  # noqa: BLE001 - the engine imports the same again and reports the failure
        imports = f"preloading failed ({type(err).__name__}: {err})"
    spec = json.loads(sys.stdin.read())
    waited = time.monotonic() - born
    spare = bool(spec.get("log_path"))  # only a spare is told where its log is: a cold worker's stderr is it
    if spare:
        _log_to(spec["log_path"])
    print(f"ftlab worker {os.getpid()}: {imports}; the job arrived {waited:.1f} s after the worker started"
          f"{' (a spare started ahead)' if spare else ''}", file=sys.stderr, flush=True)
    return run_spec(spec, emit, fault_injection=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_CANCELED))
    sys.exit(main())
