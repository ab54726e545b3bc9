"""The Run tab's logic: run labels and choices (the Playground's too), a run's summary and
per-class table, re-running its config, and zipping its trained weights.

Plain functions (no gradio, no torch/transformers); may import pandas, ftlab.config,
ftlab.errors and the other logic modules.
"""

from __future__ import annotations

import math
from typing import Optional
import zipfile
from pathlib import Path

import pandas as pd

from ftlab.charts.settings import run_name
from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.tasks import DEFAULT, get_task
from ftlab.text import t
from ftlab.ui.logic.format import format_duration, md_escape, short_dataset, status_word


def run_label(r: dict) -> str:
    """A run as pickers and cards name it: id, method with what sets it apart, seed, model / data, status."""
    method = run_name(r.get("method"), r.get("config"))
    return (f"#{r.get('id')} {method} · seed {r.get('seed')} · {r.get('model')} / "
            f"{short_dataset(r.get('dataset'))} · {status_word(r.get('status'))}")


def default_picks(runs: list[dict], limit: int) -> list[int]:
    """The Playground's first selection: the newest succeeded runs of the newest run's model and
    dataset, one per method, at most `limit` (so Predict works at once and compares methods)."""
    done = sorted((r for r in runs if r.get("status") == "succeeded"), key=lambda r: -int(r.get("id") or 0))
    if not done:
        return []
    newest, picks, methods = done[0], [], set()
    for r in done:
        if r.get("trainable_params") == 0:  # a baseline: the charts draw it; the user may add it here
            continue
        if (r.get("model"), r.get("dataset")) == (newest.get("model"), newest.get("dataset")) and r.get("method") not in methods:
            picks.append(int(r["id"]))
            methods.add(r.get("method"))
        if len(picks) == limit:
            break
    return picks


def run_choices(runs: list[dict], *, with_artifacts: bool = False,
                artifact_path=lambda r: r.get("artifact_dir")) -> list[tuple[str, int]]:
    """(label, run id) for a dropdown, newest first; with_artifacts: only succeeded runs whose
    trained weights are on disk (what the Playground can load), found by `artifact_path(run)`."""
    out = []
    for r in sorted(runs, key=lambda r: -int(r.get("id") or 0)):
        if with_artifacts:
            art = artifact_path(r)
            if r.get("status") != "succeeded" or not art or not Path(art).is_dir():
                continue
        out.append((run_label(r), int(r["id"])))
    return out


def _pct(v) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.1%}"


def _num(v, fmt="{:,.1f}") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


FINISHED_BADLY = ("failed", "canceled", "interrupted")
LOG_LINES_SHOWN = 12


def run_actions(run: dict) -> dict:
    """What the Run tab offers for a run: a succeeded one can be re-run and its weights
    downloaded; one that failed (or was canceled or interrupted) has no weights but can be
    retried; a queued or running one offers neither yet."""
    status = run.get("status")
    if status == "succeeded":
        return {"rerun": "Re-run", "download": True}
    if status in FINISHED_BADLY:
        return {"rerun": "Retry", "download": False}
    return {"rerun": None, "download": False}


def run_summary_markdown(run: dict) -> str:
    """A run's status, scores and costs as Markdown; for a run that did not succeed, why, with the
    last lines of its log, and only the costs it reached."""
    s = run
    status = s.get("status")
    if status != "succeeded":
        return _unfinished_markdown(s)
    head = t("rs_head", id=s.get("id"), method=s.get("method"), model=s.get("model"),
             dataset=md_escape(short_dataset(s.get("dataset"))), seed=s.get("seed"))
    lines = [head, t("rs_status", status=status_word(status))
             + (t("rs_stopped", why=s["stopped_reason"]) if s.get("stopped_reason") else "")
             + (t("rs_device", device=s["device"]) if s.get("device") else "")]
    if s.get("error"):
        lines.append("\n" + t("rs_error", error=md_escape(s["error"])))
    scores = [(t(f"metric_{m}"), _pct(s.get(m))) for m in get_task(s.get("task") or DEFAULT).metrics]
    scores.append((t("rs_test_loss"), _num(s.get("eval_loss"), "{:.4f}")))
    scores += continual_rows(s.get("summary") if isinstance(s.get("summary"), dict) else {})
    trainable, total = s.get("trainable_params"), s.get("total_params")
    share = t("rs_share", share=f"{trainable / total:.2%}", total=f"{total:,}") if trainable and total else ""
    kind = s.get("memory_kind")
    costs = [(t("col_trainable"), (f"{trainable:,}" if trainable is not None else "-") + share),
             (t("rs_head_params"), _num(s.get("head_params"), "{:,.0f}")),
             (t("col_samples"), _num(s.get("train_samples_per_s"))),
             (t("rs_tokens"), _num(s.get("train_tokens_per_s"), "{:,.0f}")),
             (t("rs_eval_samples"), _num(s.get("eval_samples_per_s"))),
             (t("rs_peak"), _num(s.get("peak_memory_mb"), "{:,.0f}") + (f" ({t('memory_' + kind, kind)})" if kind else "")),
             (t("rs_wall"), format_duration(s.get("wall_s")) or "-"),
             (t("rs_first_step"), _num(s.get("time_to_first_step_s"), "{:.1f} s")),
             (t("rs_steps"), _num(s.get("steps"), "{:,.0f}")), ("epochs", _num(s.get("epochs"), "{:g}"))]
    sizes = s.get("dataset_sizes") or {}
    if sizes:
        costs.append((t("rs_examples"), t("rs_sizes", train=f"{sizes.get('train', 0):,}",
                                          validation=f"{sizes.get('validation', 0):,}", test=f"{sizes.get('test', 0):,}")))
    lines += ["", t("rs_score_header"), "|---|---:|"] + [f"| {k} | {v} |" for k, v in scores]
    lines += ["", t("rs_cost_header"), "|---|---:|"] + [f"| {k} | {v} |" for k, v in costs]
    return "\n".join(lines)


def lineage(run_id: int, runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the chain of runs this one continues, root first and ending with this run; the runs that
    continue this one), from the runs' init_from."""
    def parent_of(r):
        value = r.get("init_from")
        return None if value is None or value == "" or pd.isna(value) else int(value)

    by_id = {int(r["id"]): r for r in runs if r.get("id") is not None}
    chain, seen, current = [], set(), by_id.get(int(run_id))
    while current is not None and int(current["id"]) not in seen:
        seen.add(int(current["id"]))
        chain.append(current)
        current = by_id.get(parent_of(current))
    children = [r for r in runs if parent_of(r) == int(run_id)]
    return chain[::-1], children


def lineage_markdown(run_id: int, runs: list[dict]) -> str:
    """"Lineage: #3 full on sentiment-movies → **#7** full on sentiment-products → #9 (continues it)"; empty
    for a run that neither continues nor is continued."""
    chain, children = lineage(run_id, runs)
    if len(chain) <= 1 and not children:
        return ""

    def name(r, bold=False):
        text = t("lineage_run", id=r["id"], dataset=md_escape(short_dataset(r.get("dataset"))))
        return f"**{text}**" if bold else text

    parts = [name(r, int(r["id"]) == int(run_id)) for r in chain]
    line = t("lineage") + " → ".join(parts)
    if children:
        line += t("lineage_children") + ", ".join(name(r) for r in children)
    return line


def continual_rows(summary: dict) -> list[tuple[str, str]]:
    """A continued run's scores on both tasks, for the summary table."""
    if not summary or summary.get("forgetting") is None:
        return []
    parent = summary.get("init_from")
    return [(t("rs_parent_test", run=parent), f"{_pct(summary.get('old_task_before'))} → "
             f"{_pct(summary.get('old_task_after'))}"),
            (t("rs_forgetting"), f"{summary['forgetting'] * 100:+.1f}"),
            (t("rs_new_before"), _pct(summary.get("new_task_before"))),
            (t("rs_gain"), f"{summary.get('new_task_gain', 0) * 100:+.1f}")]


def continue_config_dataset(dataset: str | None) -> str:
    """The dataset a "Continue from this run" click trains on, or a one-line reason."""
    dataset = (dataset or "").strip()
    if not dataset:
        raise FtlabError(t("continue_pick"))
    return dataset


def _unfinished_markdown(s: dict) -> str:
    head = t("rs_head", id=s.get("id"), method=s.get("method"), model=s.get("model"),
             dataset=md_escape(short_dataset(s.get("dataset"))), seed=s.get("seed"))
    status = s.get("status")
    lines = [head, t("rs_status", status=status_word(status))
             + (t("rs_device", device=s["device"]) if s.get("device") else "")]
    if s.get("error"):
        lines.append("\n" + t("rs_why", error=md_escape(s["error"])))
    if status in FINISHED_BADLY:
        lines.append("\n" + t("rs_no_weights"))
    reached = [(t("col_trainable"), _num(s.get("trainable_params"), "{:,.0f}")),
               (t("rs_steps"), _num(s.get("steps"), "{:,.0f}")),
               (t("rs_wall"), format_duration(s["wall_s"]) if (s.get("wall_s") or 0) >= 1 else "-")]
    reached = [(k, v) for k, v in reached if v not in ("-", "")]
    if reached:
        lines += ["", t("rs_reached_header"), "|---|---:|"] + [f"| {k} | {v} |" for k, v in reached]
    tail = [line for line in (s.get("logs") or []) if str(line).strip()][-LOG_LINES_SHOWN:]
    if tail:
        lines += ["", t("rs_last_logs"), "```", *[str(line)[:300] for line in tail], "```"]
    return "\n".join(lines)


def rerun_config(config: dict, next_seed: bool = False) -> RunConfig:
    """The stored config of a run, validated again; next_seed adds 1 to its seed."""
    cfg = RunConfig(**(config or {}))
    return cfg.replace(seed=cfg.seed + 1) if next_seed else cfg


def zip_folder(folder: str | Path, dest_dir: str | Path, name: str) -> str:
    """A zip of `folder` (entries under `name`/) at dest_dir/name.zip; returns its path."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}.zip"
    root = Path(folder)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, f"{name}/{f.relative_to(root)}")
    return str(path)


def zip_artifacts(artifact_dir: str | None, dest_dir: str | Path, run_id: int) -> str:
    """A zip of a run's trained adapter/head folder; returns the zip's path."""
    if not artifact_dir or not Path(artifact_dir).is_dir():
        raise FtlabError(f"run {run_id} has no saved weights (it did not succeed, or its artifact folder was removed)")
    path = zip_folder(artifact_dir, dest_dir, f"run-{run_id}")
    final = Path(path).with_name(f"ftlab-run-{run_id}.zip")
    Path(path).replace(final)
    return str(final)


def class_table(classes: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["label", "precision", "recall", "f1", "support"]
    if classes is None or not len(classes):
        return pd.DataFrame(columns=cols)
    out = classes[cols].copy()
    for c in ("precision", "recall", "f1"):
        out[c] = [None if pd.isna(v) else round(float(v), 4) for v in out[c]]
    return out


# The verdict and the two answers first (what a person scans), the long texts after them
GENERATION_COLUMNS = ("idx", "correct", "expected", "extracted", "generation", "reference", "prompt")
GENERATION_WIDTHS = ["5%", "6%", "11%", "11%", "24%", "15%", "28%"]


def generation_table(rows: pd.DataFrame | None, wrong_only: bool = False) -> pd.DataFrame:
    """A generative run's test examples as the Run tab lists them (the wrong ones only, if asked),
    with the page's column names."""
    from ftlab.text import t

    names = {c: t(f"gen_col_{c}") for c in GENERATION_COLUMNS}
    if rows is None or not len(rows):
        return pd.DataFrame(columns=list(names.values()))
    out = rows[list(GENERATION_COLUMNS)]
    if wrong_only:
        out = out[~out["correct"].astype(bool)]
    out = out.assign(correct=["✓" if c else "✗" for c in out["correct"]])
    return out.rename(columns=names).reset_index(drop=True)


def push_token(signed_in: Optional[str], on_space: bool) -> Optional[str]:
    """The token a push from the dashboard uses: the visitor's own sign-in; on a Space nothing
    else (the Space's token is its owner's, never a visitor's), locally the machine's login (None)."""
    if signed_in:
        return signed_in
    if on_space:
        raise FtlabError(t("push_sign_in"))
    return None
