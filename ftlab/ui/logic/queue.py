"""The Queue tab's logic: the jobs table and its summary line, checking a typed job id, and a log's
last lines.

Plain functions (no gradio, no torch/transformers); may import pandas, ftlab.errors and the other
logic modules.
"""

from __future__ import annotations

import re

import pandas as pd

from ftlab.errors import FtlabError
from ftlab.text import t
from ftlab.ui.logic.format import format_duration, md_escape, short_dataset, status_word

# Short headers (a long one wraps mid-word in a narrow column); the error sits where it is seen.
JOB_COLUMNS = ["job", "status", "method", "tag", "examples", "seed", "progress", "ETA", "error", "samples/s", "loss",
               "model", "dataset", "experiment", "priority", "run"]
COLUMN_WIDTHS = ["115px", "95px", "80px", "90px", "85px", "55px", "135px", "75px", "240px", "105px", "75px", "80px",
                 "170px", "220px", "95px", "55px"]
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
PAGE = 50  # queued jobs the table lists; a last queued row counts the others
SAMPLES_HELP = ("samples/s: the latest logging window's training speed while a job runs; once it finishes, the run's "
                "average over all its training, the figure Compare shows.")


def jobs_table(jobs: list[dict], counts: dict[str, int] | None = None) -> pd.DataFrame:
    """Jobs (queue order: Lab.jobs(), or Lab.jobs_page()'s one page) -> the Queue tab's table.
    With `counts` (jobs by status, all of them), the queued jobs not in `jobs` are one row after
    the running and queued ones listed: "and 4,950 more queued"."""
    rows = [_job_row(j) for j in jobs]
    more = more_queued(jobs, counts)
    if more:
        live = [i for i, j in enumerate(jobs) if j.get("status") in ("running", "queued")]
        rows.insert(live[-1] + 1 if live else 0, _more_row(more))
    return pd.DataFrame(rows, columns=JOB_COLUMNS).rename(columns={c: t("qcol_" + re.sub(r"\W", "_", c.lower()), c) for c in JOB_COLUMNS})


def _job_row(j: dict) -> dict:
    c = j.get("config") or {}
    step, total = j.get("step"), j.get("total_steps")
    if j.get("status") == "succeeded":
        percent = 100.0
    elif step and total:
        percent = round(100.0 * step / total, 1)
    else:
        percent = 0.0
    phase = j.get("phase") if j.get("status") == "running" else None
    if j.get("status") == "running" and not total:
        progress = t("queue_starting")  # no total yet: the worker is loading
    elif isinstance(phase, dict) and phase.get("total"):  # between steps: an evaluation pass
        progress = t("queue_evaluating", split=t("split_" + str(phase.get("split")), str(phase.get("split"))).lower(),
                     done=f"{int(phase.get('done') or 0):,}", total=f"{int(phase['total']):,}")
    else:
        progress = f"{percent:.0f}% · {step or 0}/{total or '?'}"
    eta = j.get("eta_s") if j.get("status") == "running" else None
    loss = j.get("last_loss")
    rate = j.get("samples_per_s")
    return {
        "job": j.get("id"), "status": status_word(j.get("status")),
        "method": c.get("method"), "tag": job_tag(j), "examples": f"{int(c['max_train']):,}" if c.get("max_train")
        else t("budget_all"), "experiment": j.get("experiment") or "", "seed": c.get("seed"),
        "progress": progress, "ETA": format_duration(eta), "error": j.get("error") or "",
        "samples/s": round(rate, 1) if rate is not None else None,
        "loss": round(loss, 4) if loss is not None else None, "model": c.get("model"),
        "dataset": short_dataset(c.get("dataset")), "priority": j.get("priority"), "run": j.get("run_id"),
    }


def job_tag(j: dict) -> str:
    """What sets a job's run apart besides its size: "trial 3", "tuned", "from #4"; "" for none."""
    c = j.get("config") or {}
    out = []
    if c.get("tag"):
        word = t(f"tag_{c['tag']}", str(c["tag"]))
        out.append(f"{word} {j['trial']}" if c["tag"] == "trial" and j.get("trial") is not None else word)
    if c.get("init_from"):
        out.append(t("run_from", run=c["init_from"]))
    return ", ".join(out)


def more_queued(jobs: list[dict], counts: dict[str, int] | None) -> int:
    """How many queued jobs `counts` has beyond those listed in `jobs` (0 without counts)."""
    if not counts:
        return 0
    return max(0, int(counts.get("queued") or 0) - sum(j.get("status") == "queued" for j in jobs))


def _more_row(n: int) -> dict:
    """The table's row standing for the queued jobs not listed: no job id, so a click picks nothing."""
    return {**dict.fromkeys(JOB_COLUMNS, ""), **dict.fromkeys(("seed", "samples/s", "loss", "priority", "run")),
            "job": t("queue_more_queued", n=f"{n:,}"), "status": status_word("queued")}


def picked_job(row: list | None) -> str | None:
    """The job id of a clicked table row; None for a row that is no job (the "more queued" one)."""
    value = str(row[0]).strip() if row and row[0] is not None else ""
    return value if JOB_ID.fullmatch(value) else None


def queue_summary(jobs: list[dict], health: str | None = None, rejected: list[dict] | None = None,
                  counts: dict[str, int] | None = None) -> str:
    """The line above the jobs table: counts by status (`counts`, every job's, if given: the table
    may list one page of the queue; else counted in `jobs`); first, what is wrong with the
    scheduler (`Lab.scheduler_status`), and after, the commands it set aside (`Lab.rejected_commands`)."""
    text = _counts(jobs, counts)
    if health:
        text = f"{t('problem')}{md_escape(health)}\n\n{text}"
    if rejected:
        lines = [f"- `{md_escape(r.get('file', '?'))}`: {md_escape(r.get('reason', ''))}" for r in rejected[-5:]]
        text += "\n\n" + t("queue_rejected", n=len(rejected)) + "\n" + "\n".join(lines)
    return text


def _counts(jobs: list[dict], counts: dict[str, int] | None = None) -> str:
    if counts is None:
        counts = {}
        for j in jobs:
            counts[j.get("status")] = counts.get(j.get("status"), 0) + 1
    if not any(counts.values()):
        return t("queue_empty")
    order = ["running", "queued", "succeeded", "pruned", "failed", "canceled", "interrupted"]
    return " · ".join(f"**{counts[s]:,}** {status_word(s)}" for s in order if counts.get(s))


def outcomes_line(outcomes: dict[str, str]) -> str:
    """What cancelling several jobs did to each, in one line."""
    return "; ".join(f"{job}: {outcome}" for job, outcome in outcomes.items())


def parse_job_ids(text: str | None) -> list[str]:
    """Several job ids separated by commas or spaces (Cancel takes them all at once)."""
    return [parse_job_id(part) for part in (text or "").replace(",", " ").split()] or [parse_job_id(text)]


def parse_job_id(text: str | None) -> str:
    job_id = (text or "").strip()
    if not job_id:
        raise FtlabError(t("queue_enter_job"))
    if not JOB_ID.fullmatch(job_id):
        raise FtlabError(t("queue_not_job", job=repr(job_id[:40])))
    return job_id


ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # terminal colours and cursor moves


def log_tail(text: str, lines: int = 200) -> str:
    """A job log's last lines as a page shows them: no terminal colour codes, and a progress bar
    redrawn with carriage returns shows its last state, not every redraw."""
    shown = []
    for line in ANSI.sub("", text or "").split("\n"):
        line = line.rstrip("\r").split("\r")[-1]
        if line.strip():
            shown.append(line)
    return "\n".join(shown[-lines:])
