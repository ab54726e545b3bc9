"""Is the Hugging Face Hub reachable? Answered within seconds, for models and datasets alike.

Offline, `from_pretrained` and `datasets.load_dataset` retry for ~20 s before failing; a short TCP
probe decides first, and an unreachable Hub means "use the local cache or fail at once with a
clear message". HF_HUB_OFFLINE=1 (or HF_DATASETS_OFFLINE=1) answers "no" at once. The answer is
kept for a minute: a dashboard asks on every load, and a network can come back.

Imports the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from urllib.parse import urlparse

_TRUE = {"1", "true", "yes", "on"}
CACHE_S = 60.0
_cache: dict[str, tuple[float, str | None]] = {}


def offline_reason(timeout: float = 2.5) -> str | None:
    """Why the Hub cannot be used now ("HF_HUB_OFFLINE is set", "no connection to host:port"),
    or None when it answers."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var} is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # behind a proxy a direct TCP probe proves nothing; let the library try
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    key = f"{host}:{port}"
    cached = _cache.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    ok = []

    def probe():
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)

    # A thread bounds the DNS lookup too, which socket timeouts do not cover.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    reason = None if ok else f"no connection to {key}"
    _cache[key] = (time.monotonic(), reason)
    return reason

