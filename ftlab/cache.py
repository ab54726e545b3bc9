"""Where ftlab keeps what it can rebuild: tokenized splits, converted models, fetched data.

FTLAB_CACHE (default ~/.cache/ftlab) is the root; FTLAB_CACHE=off turns caching off. A caller
that cannot work without a folder (a model converted from a packed format must be written
somewhere before transformers can read it) gets a per-process temporary folder instead.

Imports the standard library only: every layer may use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

_OFF = ("off", "0", "none", "false")
_SCRATCH: dict = {}


def root() -> Optional[Path]:
    """The cache root, or None when FTLAB_CACHE turns caching off."""
    value = os.environ.get("FTLAB_CACHE", "").strip()
    if value.lower() in _OFF:
        return None
    return Path(value) if value else Path.home() / ".cache" / "ftlab"


def folder(kind: str) -> Path:
    """root()/kind, or a temporary folder for this process when caching is off."""
    base = root()
    if base is None:
        if "dir" not in _SCRATCH:
            _SCRATCH["dir"] = tempfile.TemporaryDirectory(prefix="ftlab-nocache-")
        base = Path(_SCRATCH["dir"].name)
    return base / kind
