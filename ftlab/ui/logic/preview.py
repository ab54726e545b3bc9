"""What the Launch tab shows beside its form: the dataset card, and the estimate of each method's
trainable parameters and of the launch's time.

Plain functions (no gradio, no torch/transformers); may import pandas, ftlab.config,
ftlab.errors, ftlab.charts and the other logic modules.
"""

from __future__ import annotations

import math

import pandas as pd

from ftlab.config import RunConfig
from ftlab.tasks import DEFAULT, get_task
from ftlab.text import t
from ftlab.ui.logic.format import format_duration, md_escape
from ftlab.ui.logic.launch import errors_markdown

# ---- estimates ---------------------------------------------------------------------------------

# (train samples/s, eval samples/s, per-run overhead s) of full fine-tuning on 2 CPU cores when no
# run of the model has finished and no probe could run. The overhead (starting the job and loading
# its data and model, outside the rates) is the part a probe does not measure: minilm's default
# grid spent 201 s for 187 s of its runs' wall time plus ~2 s of loading each (2026-11-29), so 6 s.
# The rates are the fallback only: the same grid trained full at 43.7 samples/s and evaluated at
# 178/s, where a fixed table once said 11 and 42 and estimated 9 min for a 3 min 16 s grid.
DEFAULT_RATES = {"tiny": (30.0, 300.0, 6.0), "tiny-gpt2": (30.0, 300.0, 6.0), "tiny-llama": (30.0, 300.0, 6.0),
                 "minilm": (40.0, 170.0, 6.0),
                 # e5-small: zh-reviews, 2,000 train / 1,000 test, one epoch, 2 cores busy with other work
                 # (2026-11-30): full 394 s, lora 208 s. smollm2: 135M decoder, a guess from its size.
                 "e5-small": (7.0, 60.0, 15.0), "smollm2": (1.5, 10.0, 30.0)}
UNKNOWN_MODEL_RATES = (5.0, 30.0, 30.0)  # a Hub model is usually larger than MiniLM
PROBE_SOURCE = "a few timed steps on this machine"  # est_source_probe in English
FROZEN_BASE_SPEEDUP = 1.45  # a method that freezes the base skips its weight gradients and optimizer state


def rates_from_history(runs: pd.DataFrame | None, model: str, method: str,
                       probe: dict | None = None) -> tuple[float, float, float, str]:
    """(train samples/s, eval samples/s, overhead s, where from): the median of finished runs of
    the same model and method, else of the same model, else a probe's rates (a few timed steps
    of this model and method here: Lab.estimate(probe=True)), else the built-in guess."""
    startup = DEFAULT_RATES.get(model, UNKNOWN_MODEL_RATES)[2]
    if runs is not None and len(runs) and "train_samples_per_s" in runs:
        ok = runs[(runs["status"] == "succeeded") & (runs["model"] == model)]
        for subset, source in ((ok[ok["method"] == method], "est_source_method"), (ok, "est_source_model")):
            train = pd.to_numeric(subset["train_samples_per_s"], errors="coerce").dropna()
            evals = pd.to_numeric(subset["eval_samples_per_s"], errors="coerce").dropna()
            first = pd.to_numeric(subset["time_to_first_step_s"], errors="coerce").dropna()
            if len(train) and len(evals):
                overhead = float(first.median()) if len(first) else startup
                return (float(train.median()), float(evals.median()), overhead,
                        t(source, n=len(train), model=model, method=method))
    if probe and probe.get("train_samples_per_s") and probe.get("eval_samples_per_s"):
        return probe["train_samples_per_s"], probe["eval_samples_per_s"], startup, t("est_source_probe")
    train, evals, _ = DEFAULT_RATES.get(model, UNKNOWN_MODEL_RATES)
    if method != "full":
        train *= FROZEN_BASE_SPEEDUP
    return train, evals, startup, t("est_source_guess")


def needs_probe(runs: pd.DataFrame | None, model: str) -> bool:
    """No finished run of `model` to take rates from: measure instead of guessing."""
    return rates_from_history(runs, model, "full")[3] == t("est_source_guess")


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


ESTIMATE_COLUMNS = ["method", "trainable", "% of model", "peak memory", "per run", "total"]


def estimate_table(rows: list[dict]) -> pd.DataFrame:
    """Rows {method, runs, trainable_params, total_params, seconds} (or {method, runs, error}) ->
    the Launch tab's estimate table ("total" = per run x the method's runs)."""
    out = []
    for r in rows:
        if r.get("error"):
            out.append({"method": r["method"], "trainable": t("est_error"), "% of model": "-", "peak memory": "-",
                        "per run": "-", "total": "-"})
            continue
        share = r["trainable_params"] / r["total_params"] if r.get("total_params") else float("nan")
        out.append({"method": r["method"], "trainable": f"{r['trainable_params']:,}",
                    "% of model": f"{share:.2%}" if math.isfinite(share) else "-",
                    "peak memory": memory_cell(r),
                    "per run": format_duration(r["seconds"]),
                    "total": format_duration(r["seconds"] * r.get("runs", 1))})
    headers = dict(zip(ESTIMATE_COLUMNS, ("est_method", "est_trainable", "est_share", "est_memory_col", "est_per_run",
                                          "est_total")))
    return pd.DataFrame(out, columns=ESTIMATE_COLUMNS).rename(columns={k: t(v) for k, v in headers.items()})


def memory_cell(row: dict) -> str:
    """A run's estimated peak (ftlab.models.memory), marked where it exceeds the free memory."""
    peak = row.get("estimated_peak_mb")
    if peak is None:
        return "-"
    free = row.get("free_mb")
    return f"{peak:,.0f} MB" + (" " + t("est_memory_over") if free is not None and peak > free else "")


def slow_model_note(model: str, kind: str, params: int, rows: list[dict], on_cpu: bool) -> str:
    """A line for a launch that trains a large decoder on CPU cores: it is not a few minutes, and
    the user should hear it before queueing, not from the progress bar. Empty otherwise."""
    if not on_cpu or kind != "decoder" or params < 50_000_000:
        return ""
    timed = [r["seconds"] for r in rows if r.get("seconds")]
    longest = t("est_slow_longest", time=format_duration(max(timed))) if timed else ""
    return t("est_slow", model=model, params=f"{params / 1e6:.0f}", longest=longest)


def estimate_markdown(rows: list[dict], n_runs: int, slots: int, note: str = "") -> str:
    """The words above the estimate table: the whole grid's time and where the times come from.
    A grid with a method that cannot run gets no total (it would not run as estimated), only the
    reasons."""
    problems = [f"{r['method']}: {r['error']}" for r in rows if r.get("error")]
    if problems:
        return errors_markdown(problems, t("est_blocked"))
    total = sum(r["seconds"] * r.get("runs", 1) for r in rows) / max(slots, 1)
    sources: dict[str, list[str]] = {}
    for r in rows:
        sources.setdefault(r.get("source") or t("est_source_guess"), []).append(r["method"])
    where = "; ".join(f"{', '.join(methods)}: {source}" for source, methods in sources.items())
    return (t("est_summary", n=n_runs, total=format_duration(total), slots=slots, where=where)
            + (f"\n\n**{note}**" if note else ""))


def estimate_launch(lab, configs: list[RunConfig], user=None, guard=None,
                    trials: int = 0) -> tuple[str, pd.DataFrame | None]:
    """What the Estimate button shows for a valid grid: (Markdown, the per-method table or None when
    there is none). Refuses, in one line, what the Queue button would refuse (lab.check_inputs); then
    per method the trainable parameters (lab.estimate, one model built on CPU and cached) and the time
    from this model's finished runs, else from a probe of a few timed steps. `guard`: a context
    manager held around imports and model builds (the dashboard's import lock). `trials` (Tune): each
    method's study runs that many trials of the same steps, then its best and its default setting over
    the seeds; the baselines the grid adds are counted too."""
    import contextlib

    from ftlab import models
    from ftlab.errors import FtlabError, one_line
    from ftlab.metrics import free_memory_mb
    from ftlab.ui.logic.format import status_markdown
    from ftlab.ui.logic.launch import page_label

    guard = guard or contextlib.nullcontext()
    try:
        history = lab.runs_df()
    except Exception:  # noqa: BLE001 - an estimate without history is still an estimate
        history = None
    try:
        with guard:
            lab.check_inputs(configs, user=user)
    except Exception as err:
        if not isinstance(err, FtlabError):
            raise
        return status_markdown(t("estimate_cannot") + one_line(err, page_label), ok=False), None
    by_method: dict[str, list[RunConfig]] = {}
    for cfg in configs:
        by_method.setdefault(cfg.method, []).append(cfg)
    probe = needs_probe(history, configs[0].model)
    free_mb, where = free_memory_mb(configs[0].device)
    rows = []
    for method, group in by_method.items():
        cfg = group[0]
        try:
            with guard:
                est = lab.estimate(cfg, probe=probe)
        except FtlabError as err:
            rows.append({"method": method, "runs": len(group), "error": one_line(err, page_label)})
            continue
        train_rate, eval_rate, overhead, source = rates_from_history(history, cfg.model, method, probe=est)
        seconds = estimate_seconds(cfg, est["n_train"], est["n_eval"], train_rate, eval_rate, overhead)
        n_runs = int(trials) + 2 * len(group) if trials else len(group)
        rows.append({"method": method, "runs": n_runs, "trainable_params": est["trainable_params"],
                     "total_params": est["total_params"], "seconds": seconds, "source": source,
                     "estimated_peak_mb": est.get("estimated_peak_mb"), "free_mb": free_mb})
    slots = list(lab.scheduler.slots) if lab.scheduler is not None else ["cpu"]
    on_cpu = all(str(s).startswith("cpu") for s in slots)
    info = models.BUILTIN.get(configs[0].model)
    note = slow_model_note(info.name, info.kind, info.params, rows, on_cpu) if info else ""
    try:
        n_baselines = len(lab.missing_baselines(configs))
    except FtlabError:
        n_baselines = 0
    text = estimate_markdown(rows, sum(r.get("runs", 0) for r in rows) + n_baselines, len(slots), note)
    if free_mb is not None and not any(r.get("error") for r in rows):
        over = [r["method"] for r in rows if (r.get("estimated_peak_mb") or 0) > free_mb]
        text += "\n\n" + t("est_memory", free=f"{free_mb:,.0f}", where=where) + (
            " **" + t("est_memory_warn", methods=", ".join(over)) + "**" if over else "")
    return text, None if any(r.get("error") for r in rows) else estimate_table(rows)


# ---- dataset card --------------------------------------------------------------------------------

def card_markdown(card: dict) -> str:
    """The dataset card (ftlab.data.dataset_card) as Markdown: sizes, balance, lengths, tokenizer fit."""
    sizes = card.get("sizes", {})
    task = card.get("task", "")
    lines = [t("card_title", name=md_escape(card.get("name", "")), task=t(f"task_{task}", task) if task else "",
               train=f"{sizes.get('train', 0):,}", validation=f"{sizes.get('validation', 0):,}",
               test=f"{sizes.get('test', 0):,}")]
    source = str(card.get("source", ""))
    if source:
        lines.append(t("card_source", source=md_escape(source[:200])))
    skipped = card.get("skipped") or {}
    if skipped:
        lines.append(t("card_skipped", no_text=f"{skipped.get('no_text', 0):,}", no_label=f"{skipped.get('no_label', 0):,}"))
    rare = card.get("rare_classes")
    if rare:
        lines.append(t("card_rare", n=f"{rare['count']:,}", of=f"{rare['of']:,}", below=rare["below"],
                       examples=", ".join(md_escape(x) for x in rare["examples"])))
    labels = card.get("labels") or []
    if labels:
        kind = t("card_entities") if get_task(card.get("task") or DEFAULT).per_token else t("card_labels")
        lines += ["", f"| {kind} | {t('card_count_share')} |", "|---|---:|---:|"]
        lines += [f"| {md_escape(r['label'])} | {r['count']:,} | {r['share']:.1%} |" for r in labels[:20]]
        if len(labels) > 20:
            lines.append(f"| {t('card_more', n=len(labels) - 20)} | | |")
    pct = card.get("length_chars") or {}
    unit = card.get("length_unit", "characters")
    unit = {"characters": t("card_characters"), "tokens per sentence": t("card_tokens_per_sentence")}.get(unit, unit)
    lines += ["", t("card_length_header"), "|---|---:|---:|---:|---:|",
              f"| {unit} | {pct.get('p50', 0)} | {pct.get('p90', 0)} | {pct.get('p99', 0)} | {pct.get('max', 0)} |"]
    tokens = card.get("tokens")
    if tokens:
        lines.append(f"| {t('card_tokens')} | {tokens['p50']} | {tokens['p90']} | {tokens['p99']} | {tokens['max']} |")
        unk = card.get("unk_rate")
        unk_text = t("card_unk_none") if unk is None else f"{unk:.2%}"
        warn = t("card_unk_high") if unk is not None and unk > 0.05 else ""
        lines += ["", t("card_tokenizer", unk=unk_text, warn=warn, max_length=card.get("max_length"),
                        cut=f"{card.get('truncation_rate', 0):.1%}", n=f"{card.get('sampled', 0):,}")]
        if card.get("entities_sampled"):
            lines.append(t("card_entities_cut", cut=f"{card['entities_cut']:,}", n=f"{card['entities_sampled']:,}"))
        if card.get("prompt_tokens"):  # a generative set: prompts and answers apart, and how the model reads them
            p, a = card["prompt_tokens"], card["answer_tokens"]
            lines += ["", t("card_length_header"), "|---|---:|---:|---:|---:|",
                      f"| {t('card_prompt_tokens')} | {p['p50']} | {p['p90']} | {p['p99']} | {p['max']} |",
                      f"| {t('card_answer_tokens')} | {a['p50']} | {a['p90']} | {a['p99']} | {a['max']} |",
                      "", t("card_answers_cut", n=f"{card['answers_cut_whole']:,}", of=f"{card['sampled']:,}",
                             max_length=card.get("max_length"))]
            for i, shown in enumerate(card.get("examples") or [], 1):  # indented: Markdown shows it verbatim
                lines += ["", t("card_example", n=i), ""] + ["    " + line for line in shown.splitlines()]
    elif card.get("tokenizer_error"):
        lines += ["", t("card_no_tokenizer", error=md_escape(card["tokenizer_error"]))]
    return "\n".join(lines)
