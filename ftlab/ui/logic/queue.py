"""The Queue tab's logic: the jobs table and its summary line, checking a typed job id, and a log's
last lines.

Plain functions (no gradio, no torch/transformers); may import pandas, ftlab.errors and the other
logic modules.
"""

from __future__ import annotations

import re

import pandas as pd

from ftlab.errors import FtlabError
from ftlab.ui.logic.format import format_duration, short_dataset

JOB_COLUMNS = ["job", "status", "method", "model", "dataset", "seed", "progress %", "step", "samples/s", "ETA",
               "last loss", "priority", "run", "error"]


def jobs_table(jobs: list[dict]) -> pd.DataFrame:
    """Jobs (Lab.jobs(), queue order) -> the Queue tab's table."""
    rows = []
    for j in jobs:
        c = j.get("config") or {}
        step, total = j.get("step"), j.get("total_steps")
        if j.get("status") == "succeeded":
            progress = 100.0
        elif step and total:
            progress = round(100.0 * step / total, 1)
        else:
            progress = 0.0
        eta = j.get("eta_s") if j.get("status") == "running" else None
        loss = j.get("last_loss")
        rate = j.get("samples_per_s")
        rows.append({
            "job": j.get("id"), "status": j.get("status"), "method": c.get("method"), "model": c.get("model"),
            "dataset": short_dataset(c.get("dataset")), "seed": c.get("seed"), "progress %": progress,
            "step": "starting" if j.get("status") == "running" and not total else f"{step or 0}/{total or '?'}",
            "samples/s": round(rate, 1) if rate is not None else None,
            "ETA": format_duration(eta), "last loss": round(loss, 4) if loss is not None else None,
            "priority": j.get("priority"), "run": j.get("run_id"), "error": j.get("error") or "",
        })
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def queue_summary(jobs: list[dict]) -> str:
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j.get("status")] = counts.get(j.get("status"), 0) + 1
    if not jobs:
        return "No jobs yet: queue runs in the Launch tab."
    order = ["running", "queued", "succeeded", "failed", "canceled", "interrupted"]
    return " · ".join(f"**{counts[s]}** {s}" for s in order if counts.get(s))


def parse_job_id(text: str | None) -> str:
    job_id = (text or "").strip()
    if not job_id:
        raise FtlabError("enter a job id (click a row of the table to fill it in)")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", job_id):
        raise FtlabError(f"{job_id[:40]!r} is not a job id; job ids look like j1a2b3c4d5e")
    return job_id


def log_tail(text: str, lines: int = 200) -> str:
    parts = (text or "").replace("\r", "\n").splitlines()
    return "\n".join(parts[-lines:])
