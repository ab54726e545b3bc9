"""Uploaded dataset files: where they live, how one is saved, and when one is removed.

Uploads live beside the database (`ftlab.duckdb` -> `ftlab-uploads/`), each visitor's in a
folder of their own (`ftlab-uploads/u-<hash of the user name>/`; an anonymous local user's at the
top), under a generated name: the client's file name and path are never used as a path here.
Who may upload, and how much, is the policy's (ftlab.policy); `sweep` is the retention rule: an
upload that no job or stored run names is removed once it is older than the policy's retention.

Imports the standard library and ftlab.errors only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterable, Optional

from ftlab.errors import DataError

# The dataset files the Launch tab accepts; the tables show such a file by its name.
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".conll", ".bio", ".iob", ".txt")
MAX_BYTES = int(float(os.environ.get("FTLAB_MAX_UPLOAD_MB") or 50) * 2**20)  # per uploaded file


def root(db_path: str) -> Path:
    """Every upload of a database: ftlab.duckdb -> ftlab-uploads/."""
    p = Path(db_path)
    return p.with_name(p.stem + "-uploads")


def folder(db_path: str, user: Optional[str]) -> Path:
    """One visitor's uploads (the top folder for nobody in particular). The folder is named by a
    hash of the user name, so no user name becomes a path."""
    if not user:
        return root(db_path)
    return root(db_path) / ("u-" + hashlib.sha256(user.encode()).hexdigest()[:16])


def is_under(path: str, top: str | Path) -> bool:
    """`path` is a file inside `top` (symlinks followed)."""
    real, base = os.path.realpath(path), os.path.realpath(top)
    return os.path.isfile(real) and os.path.commonpath([real, base]) == base and real != base


def in_folder(path: str, dest: str | Path) -> bool:
    """`path` is a file directly inside `dest` (symlinks followed)."""
    real = os.path.realpath(path)
    return os.path.isfile(real) and os.path.dirname(real) == os.path.realpath(dest)


def usage(dest: str | Path) -> tuple[int, int]:
    """(files, bytes) directly inside `dest`."""
    files = [f for f in Path(dest).iterdir() if f.is_file()] if Path(dest).is_dir() else []
    return len(files), sum(f.stat().st_size for f in files)


def save(tmp_path: str, dest: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """Copy an uploaded file into `dest` under a generated name; returns the new path.

    Only the suffix of the uploaded name is kept (lowercased and checked)."""
    src = Path(tmp_path)
    suffix = src.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"unsupported file type {suffix or '(none)'!r}; upload .csv, .tsv, .jsonl, .json or "
                        "CoNLL .conll/.bio/.iob/.txt")
    if not src.is_file():
        raise DataError("the upload did not arrive; try again")
    size = src.stat().st_size
    if size == 0:
        raise DataError("the uploaded file is empty")
    if size > max_bytes:
        raise DataError(f"the uploaded file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB "
                        "(train from the command line for larger files)")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"upload-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}{suffix}"
    shutil.copyfile(src, target)
    return str(target.resolve())


def sweep(top: str | Path, in_use: Iterable[str], max_age_s: float, now: Optional[float] = None) -> list[str]:
    """Remove the uploads under `top` older than `max_age_s` that no path in `in_use` names (the
    datasets of jobs and stored runs); returns the removed paths."""
    top = Path(top)
    if not top.is_dir():
        return []
    keep = {os.path.realpath(p) for p in in_use if p}
    now = time.time() if now is None else now
    removed = []
    for f in top.rglob("upload-*"):
        real = os.path.realpath(f)
        if f.is_file() and real not in keep and now - f.stat().st_mtime > max_age_s:
            f.unlink(missing_ok=True)
            removed.append(real)
    return removed
