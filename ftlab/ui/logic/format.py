"""What more than one tab shows: Markdown escaping and status lines, durations, and dataset names.

Plain functions (no gradio, no torch/transformers); may import only the standard library and
ftlab.uploads.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from ftlab.text import t
from ftlab.uploads import SUFFIXES as UPLOAD_SUFFIXES  # a table shows an uploaded file by its name


def status_word(status: Any) -> str:
    """A job's, run's or study's status in the page's language (the catalogue's status_<name>)."""
    return t(f"status_{status}", str(status))


def md_escape(text: Any) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|])", r"\\\1", str(text))


def status_markdown(message: str, ok: bool = True) -> str:
    from ftlab.text import t

    return ("" if ok else t("problem")) + md_escape(message)


def format_duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def short_dataset(spec: str | None) -> str | None:
    """Uploaded files show as their file name, not the server path; no dataset recorded: "?"."""
    if not isinstance(spec, str):
        return "?" if spec is None or spec != spec else str(spec)
    if spec and ("/" in spec or os.sep in spec) and Path(spec).suffix.lower() in UPLOAD_SUFFIXES:
        return Path(spec).name
    return spec
