"""The dashboard's logic: plain functions the tab modules call, tested without a browser.

Nothing here imports gradio, torch or transformers. Functions take the raw values widgets hold
(strings, floats, None, lists) and return plain values, DataFrames or `RunConfig`s; user
mistakes come back as one-line messages (or `FtlabError`s), never tracebacks.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ftlab.charts import flat_config
from ftlab.config import RunConfig, field_help, parse_value
from ftlab.errors import ConfigError, DataError, FtlabError, one_line  # noqa: F401 - the tabs show errors with it
from ftlab.provenance import uploads_dir  # noqa: F401 - the Launch tab's upload folder

# transformers' lazy top-level module cannot be imported from two threads at once (the loser gets
# "cannot import name 'AutoModel' from 'transformers'"), and gradio runs each event in a thread of
# its own. The handlers that may import it (validating a peft method's config imports peft; a
# dataset card loads a tokenizer; an estimate or a prediction builds a model) hold this lock.
IMPORT_LOCK = threading.RLock()

# ---- defaults: a launch on 2 CPU cores finishes in minutes -------------------------------------

DEFAULT_MODEL = "minilm"
DEFAULT_DATASET = "tweets-sentiment"
DEFAULT_METHODS = ["full", "lora", "ia3"]
DEFAULT_SEEDS = 1
MAX_SEEDS = 20
MAX_RUNS_PER_LAUNCH = 200

# Training options the Launch tab shows, in order: (field, kind, default shown). kind: "int",
# "float", "optint" / "optfloat" (empty = None), "lr" (text, empty = the method's default), "bool"
# (a checkbox), or a tuple of choices. Defaults differ from RunConfig's where RunConfig's would take hours on CPU.
TRAINING_FIELDS: list[tuple[str, Any, Any]] = [
    ("epochs", "float", 1.0),
    ("max_train", "optint", 2000),
    ("max_eval", "optint", 1000),
    ("batch_size", "int", 16),
    ("lr", "lr", ""),
    ("max_length", "int", 128),
    ("eval_every", "int", 0),
    ("max_steps", "optint", 0),
    ("time_budget_s", "optfloat", 0),
    ("grad_accum", "int", 1),
    ("warmup_ratio", "float", 0.06),
    ("weight_decay", "float", 0.01),
    ("max_grad_norm", "float", 1.0),
    ("early_stopping", "int", 0),
    ("eval_batch_size", "optint", 0),
    ("split_seed", "int", 0),
    ("precision", ("auto", "fp32", "bf16", "fp16"), "auto"),
    ("compile", "bool", False),
    ("device", "text", "auto"),
]
# The first few are shown; the rest sit in an "Advanced" accordion.
MAIN_TRAINING_FIELDS = ["epochs", "max_train", "max_eval", "batch_size", "lr", "max_length", "eval_every", "max_steps"]
DATA_FIELDS = ["text_column", "label_column", "encoding"]
# A number box is never empty, so 0 stands for "not set" in the optional fields.
ZERO_MEANS = {"max_train": "every training example", "max_eval": "every validation/test example",
              "max_steps": "as many as the epochs give", "time_budget_s": "no time limit",
              "eval_batch_size": "2 x batch_size"}

UPLOAD_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".conll", ".bio", ".iob", ".txt")
MAX_UPLOAD_BYTES = int(float(os.environ.get("FTLAB_MAX_UPLOAD_MB") or 50) * 2**20)  # per uploaded file


def training_defaults() -> dict[str, Any]:
    return {name: default for name, _, default in TRAINING_FIELDS}


def help_for(name: str) -> str:
    """The field's help text from RunConfig (the same words as `ftlab train --help`)."""
    text = field_help().get(name, "")
    if name in ZERO_MEANS:
        text += f" 0: {ZERO_MEANS[name]}."
    return text


# ---- the launch grid -----------------------------------------------------------------------------

def parse_option_lines(text: str | None) -> dict:
    """`key=value` lines -> options dict, values typed like YAML ('8' -> 8, 'true' -> True,
    '[query, value]' -> a list). Blank lines and lines starting with # are skipped."""
    out: dict = {}
    for i, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"line {i} ({line!r}): expected key=value, e.g. r=16")
        if key in out:
            raise ConfigError(f"line {i}: option {key!r} is given twice")
        out[key] = parse_value(value.strip())
    return out


def _clean_number(name: str, kind: str, value: Any) -> Any:
    """A widget value -> the config value; raises ConfigError with the field name."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            value = None
    if value is None:
        if kind in ("optint", "optfloat", "lr"):
            return None
        raise ConfigError(f"{name}: enter a value")
    if kind in ("optint", "optfloat") and value == 0:
        return None  # a number box cannot be empty: 0 means "not set" (see ZERO_MEANS)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            hint = " or leave it empty for the method's default" if kind == "lr" else ""
            raise ConfigError(f"{name}: expected a number like 2e-5{hint} (got {value!r})") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name}: expected a number (got {value!r})")
    if kind in ("int", "optint"):
        if float(value) != int(value):
            raise ConfigError(f"{name}: expected a whole number (got {value})")
        return int(value)
    return float(value)


def clean_training(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Raw training widget values -> RunConfig fields, and a message per bad field."""
    kinds = {name: kind for name, kind, _ in TRAINING_FIELDS}
    out, errors = {}, []
    for name, value in values.items():
        kind = kinds.get(name, "text")
        if kind == "bool":
            out[name] = bool(value)
            continue
        if isinstance(kind, tuple) or kind == "text":
            text = (value or "").strip() if isinstance(value, str) else value
            if text in (None, ""):
                if name in DATA_FIELDS:
                    continue
                errors.append(f"{name}: enter a value")
                continue
            out[name] = text
            continue
        try:
            out[name] = _clean_number(name, kind, value)
        except ConfigError as err:
            errors.append(str(err))
    return out, errors


def grid_size(methods: Iterable[str] | None, seeds: Any) -> int:
    try:
        n_seeds = int(seeds or 0)
    except (TypeError, ValueError):
        n_seeds = 0
    return len(list(methods or [])) * max(n_seeds, 0)


def queue_label(methods, seeds) -> str:
    n = grid_size(methods, seeds)
    return f"Queue {n} run{'s' if n != 1 else ''}"


@dataclass
class Grid:
    """The runs a launch would queue, or the reasons it cannot."""

    configs: list[RunConfig] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.configs)


def build_grid(model: str | None, dataset: str | None, methods: list[str] | None,
               option_texts: dict[str, str] | None, seeds: Any, first_seed: Any = 0,
               training: dict[str, Any] | None = None) -> Grid:
    """Every (method, seed) RunConfig of a launch, validated; errors name the method and field.

    All errors are collected (not just the first), so one click shows everything to fix."""
    grid = Grid()
    model = (model or "").strip()
    dataset = (dataset or "").strip()
    methods = list(methods or [])
    if not model:
        grid.errors.append("model: pick a built-in model or type a Hub id or a local model directory")
    if not dataset:
        grid.errors.append("dataset: pick a built-in dataset, type a Hub name, or upload a file")
    if not methods:
        grid.errors.append("methods: select at least one method")
    try:
        n_seeds = _clean_number("seeds", "int", seeds)
        if not 1 <= n_seeds <= MAX_SEEDS:
            raise ConfigError(f"seeds: between 1 and {MAX_SEEDS} (got {n_seeds})")
    except ConfigError as err:
        grid.errors.append(str(err))
        n_seeds = 0
    try:
        start = _clean_number("first seed", "int", first_seed if first_seed not in (None, "") else 0)
        if start < 0:
            raise ConfigError(f"first seed: must be >= 0 (got {start})")
    except ConfigError as err:
        grid.errors.append(str(err))
        start = 0
    fields, errors = clean_training(training or {})
    grid.errors += errors
    if len(methods) * n_seeds > MAX_RUNS_PER_LAUNCH:
        grid.errors.append(f"{len(methods) * n_seeds} runs in one launch is too many (limit {MAX_RUNS_PER_LAUNCH}); "
                           "use fewer seeds or methods")
    if grid.errors or not model or not dataset:
        return grid
    # Model, dataset and training fields first, once (with the option-free `full` method), so a bad
    # shared field is one message rather than one per method.
    try:
        RunConfig(model=model, dataset=dataset, method="full", seed=start, **fields)
    except FtlabError as err:
        grid.errors.append(str(err))
        return grid
    for method in methods:
        try:
            options = parse_option_lines((option_texts or {}).get(method))
        except ConfigError as err:
            grid.errors.append(f"{method} options: {err}")
            continue
        try:
            base = RunConfig(model=model, dataset=dataset, method=method, method_options=options,
                             seed=start, **fields)
        except FtlabError as err:
            grid.errors.append(f"{method}: {err}")
            continue
        grid.configs.append(base)
        grid.configs += [base.replace(seed=s) for s in range(start + 1, start + n_seeds)]
    if grid.errors:
        grid.configs = []
    return grid


def errors_markdown(errors: list[str], title: str = "Nothing was queued. Fix:") -> str:
    return f"**{title}**\n\n" + "\n".join(f"- {_md_escape(e)}" for e in errors)


def _md_escape(text: Any) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|])", r"\\\1", str(text))


def options_table(rows: list[dict]) -> str:
    """A method's options (from ftlab.methods.option_help) as a Markdown table."""
    if not rows:
        return "_This method has no options._"
    lines = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for r in rows:
        default = json.dumps(r["default"]) if not isinstance(r["default"], str) else r["default"]
        lines.append(f"| `{r['name']}` | {_md_escape(r['type'])} | `{default}` | {_md_escape(r['help'])} |")
    return "\n".join(lines)


# ---- estimates ---------------------------------------------------------------------------------

# (train samples/s, eval samples/s, per-run overhead s) of full fine-tuning on 2 CPU cores when no
# run of the model has finished yet; measured on this kind of machine (tiny: ~30 train samples/s,
# since 4-step runs are dominated by the first batches; minilm: the dashboard's default grid, 2,000
# tweets, batch 16: full 11.4 train / 42 eval samples/s, LoRA and IA3 16.4).
DEFAULT_RATES = {"tiny": (30.0, 300.0, 10.0), "tiny-gpt2": (30.0, 300.0, 10.0), "tiny-llama": (30.0, 300.0, 10.0),
                 "minilm": (11.0, 42.0, 12.0)}
UNKNOWN_MODEL_RATES = (5.0, 30.0, 30.0)  # a Hub model is usually larger than MiniLM
FROZEN_BASE_SPEEDUP = 1.45  # a method that freezes the base skips its weight gradients and optimizer state


def rates_from_history(runs: pd.DataFrame | None, model: str, method: str) -> tuple[float, float, float, str]:
    """(train samples/s, eval samples/s, overhead s, where from): the median of finished runs of
    the same model and method, else of the same model, else the built-in guess."""
    if runs is not None and len(runs) and "train_samples_per_s" in runs:
        ok = runs[(runs["status"] == "succeeded") & (runs["model"] == model)]
        for subset, source in ((ok[ok["method"] == method], f"{{n}} {model}/{method} run(s)"),
                               (ok, f"{{n}} {model} run(s)")):
            train = pd.to_numeric(subset["train_samples_per_s"], errors="coerce").dropna()
            evals = pd.to_numeric(subset["eval_samples_per_s"], errors="coerce").dropna()
            first = pd.to_numeric(subset["time_to_first_step_s"], errors="coerce").dropna()
            if len(train) and len(evals):
                overhead = float(first.median()) if len(first) else DEFAULT_RATES.get(model, UNKNOWN_MODEL_RATES)[2]
                return float(train.median()), float(evals.median()), overhead, source.format(n=len(train))
    train, evals, overhead = DEFAULT_RATES.get(model, UNKNOWN_MODEL_RATES)
    if method != "full":
        train *= FROZEN_BASE_SPEEDUP
    return train, evals, overhead, "a guess"


def estimate_seconds(config: RunConfig, n_train: int, n_eval: int, train_rate: float, eval_rate: float,
                     overhead_s: float) -> float:
    """Wall time of one run: start-up + training samples / rate + evaluation passes / rate."""
    per_step = config.batch_size * config.grad_accum
    steps_per_epoch = max(1, math.ceil(n_train / per_step))
    steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    trained = min(steps * per_step, max(n_train, 1) * math.ceil(steps / steps_per_epoch))
    eval_every = config.eval_every or steps_per_epoch
    # The engine evaluates every eval_every steps and at the last step, but skips a lone final
    # validation pass (nothing to choose between); the test split is evaluated once at the end.
    val_passes = math.ceil(steps / eval_every) if steps > eval_every else 0
    seconds = overhead_s + trained / max(train_rate, 1e-6) + (val_passes + 1) * n_eval / max(eval_rate, 1e-6)
    if config.time_budget_s:
        seconds = min(seconds, overhead_s + config.time_budget_s + (val_passes + 1) * n_eval / max(eval_rate, 1e-6))
    return seconds


def format_duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def format_count(n: float | None) -> str:
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return "-"
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


ESTIMATE_COLUMNS = ["method", "trainable", "% of model", "per run", "total"]


def estimate_table(rows: list[dict]) -> pd.DataFrame:
    """Rows {method, runs, trainable_params, total_params, seconds} (or {method, runs, error}) ->
    the Launch tab's estimate table ("total" = per run x the method's runs)."""
    out = []
    for r in rows:
        if r.get("error"):
            out.append({"method": r["method"], "trainable": "error", "% of model": "-", "per run": "-", "total": "-"})
            continue
        share = r["trainable_params"] / r["total_params"] if r.get("total_params") else float("nan")
        out.append({"method": r["method"], "trainable": f"{r['trainable_params']:,}",
                    "% of model": f"{share:.2%}" if math.isfinite(share) else "-",
                    "per run": format_duration(r["seconds"]),
                    "total": format_duration(r["seconds"] * r.get("runs", 1))})
    return pd.DataFrame(out, columns=ESTIMATE_COLUMNS)


def estimate_markdown(rows: list[dict], n_runs: int, slots: int) -> str:
    """The words above the estimate table: the whole grid's time, where the times come from, and
    the methods that cannot be estimated (nor run)."""
    total = sum(r["seconds"] * r.get("runs", 1) for r in rows if "seconds" in r) / max(slots, 1)
    sources: dict[str, list[str]] = {}
    for r in rows:
        if "seconds" in r:
            sources.setdefault(r.get("source", "a guess"), []).append(r["method"])
    where = "; ".join(f"{', '.join(methods)}: {source}" for source, methods in sources.items())
    text = (f"**{n_runs} runs**, about **{format_duration(total)}** in all on {slots} device slot(s), one job per "
            f"slot at a time. Rough times (from medians of finished runs of the same model, else a guess for 2 "
            f"CPU cores): {where}.")
    problems = [f"{r['method']}: {r['error']}" for r in rows if r.get("error")]
    if problems:
        text += "\n\n" + errors_markdown(problems, "Some methods cannot be estimated (nor run):")
    return text


# ---- dataset card --------------------------------------------------------------------------------

def card_markdown(card: dict) -> str:
    """The dataset card (ftlab.data.dataset_card) as Markdown: sizes, balance, lengths, tokenizer fit."""
    sizes = card.get("sizes", {})
    lines = [(f"**{_md_escape(card.get('name', ''))}**: {card.get('task', '')}, "
              f"{sizes.get('train', 0):,} train / {sizes.get('validation', 0):,} validation / "
              f"{sizes.get('test', 0):,} test examples")]
    source = str(card.get("source", ""))
    if source:
        lines.append(f"<small>source: {_md_escape(source[:200])}</small>")
    labels = card.get("labels") or []
    if labels:
        kind = "entities (train)" if card.get("task") == "ner" else "labels (train)"
        lines += ["", f"| {kind} | count | share |", "|---|---:|---:|"]
        lines += [f"| {_md_escape(r['label'])} | {r['count']:,} | {r['share']:.1%} |" for r in labels[:20]]
        if len(labels) > 20:
            lines.append(f"| ... {len(labels) - 20} more | | |")
    pct = card.get("length_chars") or {}
    unit = card.get("length_unit", "characters")
    lines += ["", "| length | p50 | p90 | p99 | max |", "|---|---:|---:|---:|---:|",
              f"| {unit} | {pct.get('p50', 0)} | {pct.get('p90', 0)} | {pct.get('p99', 0)} | {pct.get('max', 0)} |"]
    tokens = card.get("tokens")
    if tokens:
        lines.append(f"| tokens | {tokens['p50']} | {tokens['p90']} | {tokens['p99']} | {tokens['max']} |")
        unk = card.get("unk_rate")
        unk_text = "n/a (tokenizer has no [UNK])" if unk is None else f"{unk:.2%}"
        warn = " (high: the model cannot read much of this text)" if unk is not None and unk > 0.05 else ""
        lines += ["", (f"[UNK] rate: **{unk_text}**{warn}; cut by max_length {card.get('max_length')}: "
                       f"**{card.get('truncation_rate', 0):.1%}** (tokenizer stats on {card.get('sampled', 0):,} "
                       "train examples)")]
    elif card.get("tokenizer_error"):
        lines += ["", f"_Tokenizer statistics unavailable: {_md_escape(card['tokenizer_error'])}_"]
    return "\n".join(lines)


# ---- uploads -----------------------------------------------------------------------------------

def save_upload(tmp_path: str, dest_dir: str | Path, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """Copy an uploaded file under dest_dir with a generated name; returns the new path.

    Only the suffix of the uploaded name is kept (lowercased and checked): the client's file
    name and path are never used as a path here."""
    src = Path(tmp_path)
    suffix = src.suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
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
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"upload-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}{suffix}"
    shutil.copyfile(src, target)
    return str(target.resolve())


# ---- the queue -----------------------------------------------------------------------------------

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
            "dataset": _short_dataset(c.get("dataset")), "seed": c.get("seed"), "progress %": progress,
            "step": "starting" if j.get("status") == "running" and not total else f"{step or 0}/{total or '?'}",
            "samples/s": round(rate, 1) if rate is not None else None,
            "ETA": format_duration(eta), "last loss": round(loss, 4) if loss is not None else None,
            "priority": j.get("priority"), "run": j.get("run_id"), "error": j.get("error") or "",
        })
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def _short_dataset(spec: str | None) -> str | None:
    """Uploaded files show as their file name, not the server path."""
    if spec and ("/" in spec or os.sep in spec) and Path(spec).suffix.lower() in UPLOAD_SUFFIXES:
        return Path(spec).name
    return spec


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


# ---- compare -----------------------------------------------------------------------------------

def filter_choices(runs: pd.DataFrame | None) -> dict[str, list[str]]:
    """The distinct values of each filter column, for the Compare tab's dropdowns."""
    out = {}
    for col in ("dataset", "model", "method", "status"):
        if runs is None or col not in runs or not len(runs):
            out[col] = []
        else:
            out[col] = sorted(str(v) for v in runs[col].dropna().unique())
    return out


def filter_runs(runs: pd.DataFrame | None, datasets=None, models=None, methods=None, statuses=None) -> pd.DataFrame:
    """Rows matching every non-empty filter (each a list of allowed values; empty = all)."""
    if runs is None:
        return pd.DataFrame()
    keep = pd.Series(True, index=runs.index)
    for col, wanted in (("dataset", datasets), ("model", models), ("method", methods), ("status", statuses)):
        if isinstance(wanted, str):
            wanted = [wanted]
        if wanted and col in runs:
            keep &= runs[col].astype(str).isin([str(w) for w in wanted])
    return runs[keep].reset_index(drop=True)


def config_diff(runs: pd.DataFrame | None) -> pd.DataFrame:
    """The config fields that differ across these runs: one row per run (column `id`), one
    column per differing field (method options as `method_options.r`); identical fields are
    left out. A field a run lacks (another method's option) shows as empty."""
    if runs is None or not len(runs) or "config" not in runs:
        return pd.DataFrame({"id": []})
    flat = [flat_config(c) for c in runs["config"]]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    differing = []
    for k in keys:
        values = {json.dumps(f.get(k), sort_keys=True, default=str) if k in f else "<absent>" for f in flat}
        if len(values) > 1:
            differing.append(k)
    frame = pd.DataFrame({"id": list(runs["id"])})
    for k in differing:
        frame[k] = [_cell(f[k]) if k in f else "" for f in flat]
    return frame


def _cell(value: Any) -> str:
    """Config values as text: one type per table column (true, 16, 0.1, ["query"]; None empty)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def score_column(runs: pd.DataFrame | None) -> str:
    if runs is not None and len(runs) and "task" in runs and set(runs["task"].dropna()) == {"ner"}:
        return "entity_f1"
    return "accuracy"


RUN_TABLE_COLUMNS = [("id", "run"), ("status", "status"), ("method", "method"), ("model", "model"),
                     ("dataset", "dataset"), ("seed", "seed")]


def runs_table(runs: pd.DataFrame | None) -> pd.DataFrame:
    """The Compare tab's table: who, the headline score, the costs, then the config diff."""
    if runs is None or not len(runs):
        return pd.DataFrame(columns=[label for _, label in RUN_TABLE_COLUMNS] + ["score", "trainable params"])
    score = score_column(runs)
    out = pd.DataFrame({label: runs[col].values for col, label in RUN_TABLE_COLUMNS if col in runs})
    out["dataset"] = [_short_dataset(d) for d in out["dataset"]]

    def num(col, digits=1, scale=1.0):
        if col not in runs:
            return [None] * len(runs)
        return [None if pd.isna(v) else round(float(v) * scale, digits) for v in runs[col]]

    out[f"{score.replace('_', ' ')} %"] = num(score, 1, 100.0)
    out["trainable params"] = [None if pd.isna(v) else int(v) for v in runs.get("trainable_params", [None] * len(runs))]
    out["train samples/s"] = num("train_samples_per_s")
    out["peak MB"] = num("peak_memory_mb", 0)
    out["wall s"] = num("wall_s")
    out["error"] = [("" if pd.isna(e) else _clip(str(e), 80)) for e in runs.get("error", [None] * len(runs))]
    diff = config_diff(runs).drop(columns=["id"])
    shown = {"method", "model", "dataset", "seed", "task"}
    for col in diff.columns:
        if col not in shown:
            out["≠ " + col.replace("method_options.", "opt.")] = diff[col].values
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def export_runs(runs: pd.DataFrame, fmt: str, dest_dir: str | Path) -> str:
    """Write the runs to CSV or Parquet under dest_dir; returns the file path."""
    if runs is None or not len(runs):
        raise FtlabError("no runs to export: change the filters or train some runs first")
    fmt = fmt.lower()
    if fmt not in ("csv", "parquet"):
        raise FtlabError(f"unknown export format {fmt!r}; use csv or parquet")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"ftlab-runs-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}.{fmt}"
    frame = runs.copy()
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        # Parquet wants one type per column: JSON/text columns as strings, missing as null.
        for col in frame.columns:
            if frame[col].dtype == object:
                frame[col] = frame[col].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                                            else v if isinstance(v, str) else json.dumps(v, default=str))
        frame.to_parquet(path, index=False)
    return str(path)


# ---- one run -----------------------------------------------------------------------------------

def run_label(r: dict) -> str:
    seed = r.get("seed")
    return (f"#{r.get('id')} {r.get('method')} · seed {seed} · {r.get('model')} / "
            f"{_short_dataset(r.get('dataset'))} · {r.get('status')}")


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


def run_summary_markdown(run: dict) -> str:
    """A run's status, scores and costs as Markdown."""
    s = run
    status = s.get("status")
    head = f"### Run #{s.get('id')}: {s.get('method')} on {s.get('model')} / {_md_escape(_short_dataset(s.get('dataset')))}, seed {s.get('seed')}"
    lines = [head, f"status **{status}**" + (f" · stopped: {s['stopped_reason']}" if s.get("stopped_reason") else "")
             + (f" · device {s['device']}" if s.get("device") else "")]
    if s.get("error"):
        lines.append(f"\n**Error:** {_md_escape(s['error'])}")
    task = s.get("task")
    if task == "ner":
        scores = [("entity F1", _pct(s.get("entity_f1"))), ("entity precision", _pct(s.get("entity_precision"))),
                  ("entity recall", _pct(s.get("entity_recall"))), ("token accuracy", _pct(s.get("token_accuracy")))]
    else:
        scores = [("accuracy", _pct(s.get("accuracy"))), ("macro-F1", _pct(s.get("macro_f1")))]
    scores.append(("test loss", _num(s.get("eval_loss"), "{:.4f}")))
    trainable, total = s.get("trainable_params"), s.get("total_params")
    share = f" ({trainable / total:.2%} of {total:,})" if trainable and total else ""
    costs = [("trainable params", (f"{trainable:,}" if trainable is not None else "-") + share),
             ("head params", _num(s.get("head_params"), "{:,.0f}")),
             ("train samples/s", _num(s.get("train_samples_per_s"))),
             ("train tokens/s", _num(s.get("train_tokens_per_s"), "{:,.0f}")),
             ("eval samples/s", _num(s.get("eval_samples_per_s"))),
             ("peak memory MB", _num(s.get("peak_memory_mb"), "{:,.0f}") +
              (f" ({s['memory_kind']})" if s.get("memory_kind") else "")),
             ("wall time", format_duration(s.get("wall_s")) or "-"),
             ("time to first step", _num(s.get("time_to_first_step_s"), "{:.1f} s")),
             ("steps", _num(s.get("steps"), "{:,.0f}")), ("epochs", _num(s.get("epochs"), "{:g}"))]
    sizes = s.get("dataset_sizes") or {}
    if sizes:
        costs.append(("examples", (f"{sizes.get('train', 0):,} train / {sizes.get('validation', 0):,} val / "
                                   f"{sizes.get('test', 0):,} test")))
    lines += ["", "| score (test) | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in scores]
    lines += ["", "| cost | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in costs]
    return "\n".join(lines)


def rerun_config(config: dict, next_seed: bool = False) -> RunConfig:
    """The stored config of a run, validated again; next_seed adds 1 to its seed."""
    cfg = RunConfig(**(config or {}))
    return cfg.replace(seed=cfg.seed + 1) if next_seed else cfg


def zip_artifacts(artifact_dir: str | None, dest_dir: str | Path, run_id: int) -> str:
    """A zip of a run's trained adapter/head folder; returns the zip's path."""
    if not artifact_dir or not Path(artifact_dir).is_dir():
        raise FtlabError(f"run {run_id} has no saved weights (it did not succeed, or its artifact folder was removed)")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"ftlab-run-{run_id}.zip"
    root = Path(artifact_dir)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, f"run-{run_id}/{f.relative_to(root)}")
    return str(path)


def class_table(classes: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["label", "precision", "recall", "f1", "support"]
    if classes is None or not len(classes):
        return pd.DataFrame(columns=cols)
    out = classes[cols].copy()
    for c in ("precision", "recall", "f1"):
        out[c] = [None if pd.isna(v) else round(float(v), 4) for v in out[c]]
    return out


# ---- playground --------------------------------------------------------------------------------

def highlight_segments(tokens: list[str], tags: list[str], joiner: str = " ") -> list[tuple[str, str | None]]:
    """Words and BIO tags -> (text, entity type or None) segments for gr.HighlightedText: an
    entity's words are one segment; the joiner (a space, or nothing for Chinese) sits between."""
    segments: list[tuple[str, str | None]] = []
    for i, (word, tag) in enumerate(zip(tokens, tags)):
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        sep = joiner if i else ""
        if segments:
            last_text, last_kind = segments[-1]
            if kind is not None and tag.startswith("I-") and last_kind == kind:  # the entity goes on
                segments[-1] = (last_text + sep + word, kind)
                continue
            if kind is None:  # plain text: joins plain text, or starts after an entity
                if last_kind is None:
                    segments[-1] = (last_text + sep + word, None)
                else:
                    segments.append((sep + word, None))
                continue
            if sep:  # a new entity: the separator stays with the plain text before it
                if last_kind is None:
                    segments[-1] = (last_text + sep, None)
                else:
                    segments.append((sep, None))
        segments.append((word, kind))
    return segments


def prediction_view(task: str, prediction: dict, text: str = "") -> dict:
    """One run's prediction (Predictor.predict) -> {"label": {label: prob} | None, "highlight":
    segments | None, "text": a one-line summary}. NER words are re-joined as the predictor split
    them: by spaces, or per character for text without spaces (Chinese)."""
    if task == "ner":
        tokens, tags = prediction.get("tokens", []), prediction.get("tags", [])
        joiner = " " if " " in (text or "").strip() else ""
        ents = prediction.get("entities") or []
        text = ", ".join(f"{e['text']} ({e['type']})" for e in ents) or "no entities"
        return {"label": None, "highlight": highlight_segments(tokens, tags, joiner), "text": text}
    probs = prediction.get("probs") or {}
    top = prediction.get("label")
    return {"label": {str(k): float(v) for k, v in probs.items()}, "highlight": None,
            "text": f"{top} ({probs.get(top, float('nan')):.1%})" if top is not None else ""}


# ---- errors --------------------------------------------------------------------------------------

def status_markdown(message: str, ok: bool = True) -> str:
    return ("" if ok else "**Problem:** ") + _md_escape(message)
