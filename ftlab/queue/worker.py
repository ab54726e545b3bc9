"""One job in its own process: `python -m ftlab.queue.worker` (spec JSON on stdin, events on stdout).

Each job runs the core engine in a subprocess with its own process group, so a crash, a CUDA
out-of-memory or a cancel never takes the scheduler down, and the GPU memory goes back to the
driver when the process ends. Events are JSON lines on stdout; everything else (warnings,
progress) goes to stderr, which the scheduler keeps as the job's log.

Exit status: 0 succeeded, 1 failed, 3 CUDA out of memory (the scheduler retries with half the
batch), 143 canceled (SIGTERM).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

EXIT_OOM = 3


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the scheduler dies (even kill -9), so no orphan keeps a GPU busy."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _fault_injection(config) -> None:
    """Test hook: FTLAB_FAULT_OOM_ABOVE_BATCH=N raises a CUDA OOM for batch sizes above N."""
    limit = os.environ.get("FTLAB_FAULT_OOM_ABOVE_BATCH")
    if limit and config.batch_size > int(limit):
        import torch

        raise torch.cuda.OutOfMemoryError(f"simulated: batch {config.batch_size} > {limit}")


def main() -> int:
    _die_with_parent()
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the event stream

    failed_sent = False

    def emit(event: dict) -> None:
        nonlocal failed_sent
        failed_sent = failed_sent or event["event"] == "failed"
        out.write(json.dumps(event, default=str) + "\n")
        out.flush()

    spec = json.loads(sys.stdin.read())
    from ftlab.config import RunConfig
    from ftlab.errors import FtlabError

    try:
        config = RunConfig(**spec["config"])
    except FtlabError as err:
        emit({"event": "failed", "time": __import__("time").time(), "error": str(err), "summary": {}})
        return 1
    import torch

    from ftlab.train import train

    try:
        _fault_injection(config)
        train(config, emit, artifact_dir=spec.get("artifact_dir"))
    except torch.cuda.OutOfMemoryError as err:
        if not failed_sent:
            emit({"event": "failed", "time": __import__("time").time(), "error": f"CUDA out of memory ({err})"[:300],
                  "summary": {}})
        return EXIT_OOM
    except Exception:
        return 1  # the engine already emitted `failed` with the reason
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
