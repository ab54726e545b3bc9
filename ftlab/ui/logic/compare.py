"""The Compare tab's logic: filter choices and filtering, the runs table with its config diff, and
CSV / Parquet export.

Plain functions (no gradio, no torch/transformers); may import pandas, ftlab.errors, ftlab.charts
and the other logic modules.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from ftlab.charts import (FLAT, flat_configs, group_title, groups_without_full, score_metric, score_name,
                          verdict_count, verdicts, versus_full)
from ftlab.errors import FtlabError
from ftlab.text import t
from ftlab.ui.logic.format import short_dataset, status_word


# The experiment picker's first choice: whichever experiment is newest when the tab refreshes.
LATEST = "latest"
# What the text above and under the score chart lists at most (the most recent settings): more is not read.
MAX_VERSUS_ROWS = 40
MAX_VERDICTS = 12
# Rows the runs table sends (the most recent runs); export gives every run.
MAX_TABLE_ROWS = 1000


def experiment_choices(experiments: list[dict]) -> list[tuple[str, str]]:
    """(label, id) for the experiment picker: "the latest experiment", then each experiment with
    runs, newest first, with its run count ("lora, ia3 · minilm / tweets · 12 runs")."""
    out = [(t("compare_latest"), LATEST)]
    for e in experiments:
        if e.get("n_runs"):
            out.append((t("compare_experiment_choice", name=experiment_name(e), n=e["n_runs"]), e["id"]))
    return out


def experiment_name(experiment: dict) -> str:
    """An experiment's name as the page shows it: the runs from before experiments existed in the
    page's language (the store names them "Earlier runs"), the others as named."""
    if experiment.get("kind") == "earlier" and experiment.get("name") == "Earlier runs":
        return t("exp_earlier")
    return str(experiment.get("name"))


def chosen_experiments(chosen, experiments: list[dict]) -> list[str] | None:
    """The experiment ids the picker's value stands for ("latest" resolved to the newest
    experiment with runs); None when nothing is chosen: every run."""
    chosen = [chosen] if isinstance(chosen, str) else list(chosen or [])
    if not chosen:
        return None
    newest = next((e["id"] for e in experiments if e.get("n_runs")), None)
    ids = [newest if c == LATEST else c for c in chosen]
    return list(dict.fromkeys(i for i in ids if i is not None))


def select_runs(runs: pd.DataFrame | None, experiment_ids: list[str] | None) -> pd.DataFrame:
    """The runs of these experiments (all runs for None), and the baselines they lack: the
    majority class or zero-shot run of the same model, data and budget from another experiment is a
    shared reference line, so every chart of an experiment keeps its baselines (of another budget
    only where the chosen runs have no baseline of that method at all)."""
    if runs is None or not len(runs):
        return pd.DataFrame() if runs is None else runs
    if experiment_ids is None or "experiment_id" not in runs:
        return runs
    from ftlab.charts import baseline_methods, flat_configs, prepared
    from ftlab.charts.settings import budget_of

    mine = runs["experiment_id"].isin(experiment_ids)
    # the chosen runs and the other experiments' baselines, each config parsed once (for the charts too)
    pool = prepared(runs[mine | runs["method"].isin(baseline_methods())])
    rows = list(zip(pool.index, pool["experiment_id"].isin(experiment_ids).tolist(), pool["model"].tolist(),
                    pool["dataset"].tolist(), [-1.0 if b != b else b for b in map(budget_of, flat_configs(pool))],
                    pool["method"].tolist()))  # a budget of -1: the whole training set (NaN never equals itself)
    wanted = {(mo, d, b) for _, own, mo, d, b, _ in rows if own}  # the groups the chosen runs train in
    pairs = {(mo, d) for mo, d, _ in wanted}
    have = {(mo, d, b, m) for _, own, mo, d, b, m in rows if own}
    have_any = {(mo, d, m) for _, own, mo, d, _, m in rows if own}
    picked = [(i, mo, d, b, m) for i, own, mo, d, b, m in rows if not own and (
        ((mo, d, b) in wanted and (mo, d, b, m) not in have) or ((mo, d) in pairs and (mo, d, m) not in have_any))]
    # a baseline of the group's own budget makes one of another budget unnecessary
    exact = {(mo, d, m) for _, mo, d, b, m in picked if (mo, d, b) in wanted}
    borrowed = [i for i, mo, d, b, m in picked if (mo, d, b) in wanted or (mo, d, m) not in exact]
    return pool[pool["experiment_id"].isin(experiment_ids) | pool.index.isin(borrowed)].reset_index(drop=True)


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
    left out. A method option differs only when runs that have it set it differently (LoRA's r
    is not a difference between a LoRA run and a full fine-tuning run: the method column says
    that); a run without it shows an empty cell."""
    if runs is None or not len(runs) or ("config" not in runs and FLAT not in runs):
        return pd.DataFrame({"id": []})
    flat = flat_configs(runs)
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differing = []
    for k in keys:
        values = [f.get(k, _ABSENT) for f in flat]
        try:
            distinct = set(values)  # one pass in C where the values are hashable
            if len(distinct) < 4 and len({v.__class__ for v in values if v is not _ABSENT}) > 1:
                raise TypeError  # 1, 1.0 and true are one member of a set, and differ (as in JSON)
        except TypeError:
            distinct = {_token(v) for v in values}
        if k.startswith("method_options."):
            distinct.discard(_ABSENT)
        if len(distinct) > 1:
            differing.append(k)
    frame = pd.DataFrame({"id": list(runs["id"])})
    for k in differing:
        frame[k] = [_cell(f[k]) if k in f else "" for f in flat]
    return frame


_ABSENT = ("absent",)  # a field a run's config lacks


def _token(value: Any):
    """A config value as something to compare by: the value with its type for numbers, text and
    None (1, 1.0 and true differ, as in JSON), its JSON for lists and dicts."""
    if value is _ABSENT:
        return _ABSENT
    if value is None or isinstance(value, (str, int, float, bool)):
        return (value.__class__, value if value == value else "nan")
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _cell(value: Any) -> str:
    """Config values as text: one type per table column (true, 16, 0.1, ["query"]; None empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value.__class__ is int:  # the common cases without json's machinery: the same text
        return str(value)
    if value.__class__ is bool:
        return "true" if value else "false"
    if value.__class__ is float and math.isfinite(value):
        return repr(value)
    return json.dumps(value)


RUN_TABLE_COLUMNS = [("id", "run"), ("status", "status"), ("method", "method"), ("model", "model"),
                     ("dataset", "dataset"), ("seed", "seed")]


def runs_table(runs: pd.DataFrame | None, limit: int | None = None) -> pd.DataFrame:
    """The Compare tab's table: who, the headline score, the costs, then the config diff; with
    `limit`, only the last `limit` runs (the frame's order: the most recent, as the store lists them)."""
    if runs is None or not len(runs):
        return pd.DataFrame(columns=[label for _, label in RUN_TABLE_COLUMNS] + ["score", "trainable params"])
    if limit is not None and len(runs) > limit:
        runs = runs.iloc[len(runs) - limit:]
    score = score_metric(runs)
    out = pd.DataFrame({label: runs[col].values for col, label in RUN_TABLE_COLUMNS if col in runs})
    if "status" in out:
        out["status"] = [status_word(v) for v in out["status"]]
    out["dataset"] = [short_dataset(d) for d in out["dataset"]]

    def num(col, digits=1, scale=1.0):
        if col not in runs:
            return [None] * len(runs)
        values = pd.to_numeric(runs[col], errors="coerce").astype(float) * scale
        return [None if v != v else round(v, digits) for v in values.tolist()]

    out[f"{score.replace('_', ' ')} %"] = num(score, 1, 100.0)
    out["trainable params"] = ["" if pd.isna(v) else f"{int(v):,}"
                               for v in runs.get("trainable_params", [None] * len(runs))]
    out["train samples/s"] = num("train_samples_per_s")
    out["peak MB"] = num("peak_memory_mb", 0)
    out["estimated MB"] = num("estimated_peak_mb", 0)  # before the run: how far the estimate was
    out["wall s"] = num("wall_s")
    out["error"] = [("" if pd.isna(e) else _clip(str(e), 80)) for e in runs.get("error", [None] * len(runs))]
    diff = config_diff(runs).drop(columns=["id"])
    shown = {"method", "model", "dataset", "seed", "task"}
    for col in diff.columns:
        if col not in shown:
            out["≠ " + col.replace("method_options.", "opt.")] = diff[col].values
    return out.rename(columns=table_headers(out.columns, score))


def table_headers(columns, score: str) -> dict[str, str]:
    """The runs table's headers in the page's language (config fields keep their names)."""
    keys = {"run": "col_run", "status": "col_status", "method": "col_method", "model": "col_model",
            "dataset": "col_dataset", "seed": "col_seed", "trainable params": "col_trainable",
            "train samples/s": "col_samples", "peak MB": "col_peak", "estimated MB": "col_estimated",
            "wall s": "col_wall", "error": "col_error"}
    out = {c: t(keys[c]) for c in columns if c in keys}
    score_col = f"{score.replace('_', ' ')} %"
    if score_col in columns:
        out[score_col] = t(f"metric_{score}", score.replace("_", " ")) + " %"
    return out


def versus_full_markdown(runs: pd.DataFrame | None) -> str:
    """The answer above the charts: per method, the score it gives up against full fine-tuning of
    the same model, dataset and budget (one comparable group), the parameters it trains instead,
    the time it saves; then each group that has no full run to compare with, said so. The
    MAX_VERSUS_ROWS most recent settings are listed, and how many more there are."""
    table = versus_full(runs)
    lonely = [group_title(m, short_dataset(d), b) for m, d, b in groups_without_full(runs)]
    if table.empty:
        return "\n\n".join([t("versus_none")] + ([t("versus_no_full", groups="; ".join(lonely))] if lonely else []))
    metric = score_metric(runs[runs["status"] == "succeeded"] if "status" in runs else runs)
    mixed = table[["model", "dataset", "budget"]].fillna(-1).drop_duplicates().shape[0] > 1
    hidden = max(0, len(table) - MAX_VERSUS_ROWS)
    if hidden:
        table = table.loc[table["last_run"].astype(float).nlargest(MAX_VERSUS_ROWS, keep="first").index].sort_index()
    lines = [t("versus_title"), "",
             t("versus_header", metric=t(f"metric_{metric}", metric.replace("_", " "))), "|---|---:|---:|---:|---:|---:|"]
    for r in table.to_dict("records"):
        name = r["method"] + (f" ({r['variant']})" if r["variant"] else "")
        if mixed:
            name += f" · {group_title(r['model'], short_dataset(r['dataset']), r['budget'])}"
        delta = t("versus_points", delta=f"{100 * r['score_delta']:+.1f}") if pd.notna(r["score_delta"]) else "-"
        share = t("versus_share", share=f"{r['params_ratio']:.2%}") if pd.notna(r["params_ratio"]) else "-"
        saved = r["time_saved"]
        time_text = "-" if pd.isna(saved) else t("versus_less" if saved >= 0 else "versus_more", share=f"{abs(saved):.0%}")
        lines.append(f"| {name} | {100 * r['score']:.1f}% | {delta} | {share} | {time_text} | {int(r['n'])} |")
    if hidden:
        lines += ["", t("versus_more_settings", n=hidden)]
    if lonely:
        lines += ["", t("versus_no_full", groups="; ".join(lonely))]
    return "\n".join(lines)


def verdicts_markdown(runs: pd.DataFrame | None) -> str:
    """Under the score chart: each gap to full fine-tuning (or to the best setting) in words,
    with its 95% interval and whether seed noise explains it; those of the MAX_VERDICTS most
    recent settings, and how many more there are."""
    found = verdicts(runs, limit=MAX_VERDICTS)  # succeeded runs only (ftlab.charts keeps those)
    if not found:
        return t("verdicts_none")
    succeeded = runs[runs["status"] == "succeeded"] if "status" in runs else runs
    metric = score_metric(succeeded)
    lines = [t("verdicts_title", metric=score_name(succeeded, metric)), ""]
    mixed = len({(x["model"], x["dataset"], -1 if x["budget"] != x["budget"] else x["budget"]) for x in found}) > 1
    for v in found:
        where = f" ({group_title(v['model'], short_dataset(v['dataset']), v['budget'])})" if mixed else ""
        lines.append(f"- {v['text']}{where}")
    hidden = verdict_count(runs) - len(found)
    if hidden > 0:
        lines += ["", t("verdicts_more", n=hidden)]
    return "\n".join(lines)


def study_choices(studies: list[dict]) -> list[tuple[str, str]]:
    """(label, study id) for the study picker: name, method, status, trials finished of planned."""
    out = []
    for st in studies:
        trials = [j for j in st.get("jobs", []) if j.get("trial") is not None]
        done = sum(j["status"] in ("succeeded", "failed", "canceled", "pruned") for j in trials)
        out.append((t("study_choice", name=st.get("name"), method=st.get("method"),
                      status=status_word(st["status"]), done=done, trials=st["spec"]["trials"]),
                    st["id"]))
    return out[::-1]  # newest first


def study_markdown(study: dict | None) -> str:
    """What a study searched, how its trials ended and what it found."""
    if not study:
        return t("study_none")
    spec, best = study["spec"], study.get("best") or {}
    trials = [j for j in study.get("jobs", []) if j.get("trial") is not None]
    counts: dict[str, int] = {}
    for j in trials:
        counts[j["status"]] = counts.get(j["status"], 0) + 1
    space = ", ".join(f"{k} {v[1]:g}..{v[2]:g} (log)" if isinstance(v, list) and v and v[0] == "log"
                      else f"{k} in {v}" for k, v in spec["space"].items())
    ended = ", ".join(f"{n} {status_word(k)}" for k, n in sorted(counts.items())) or t("study_no_trials")
    lines = [t("study_text", method=study["method"], trials=spec["trials"], steps=spec["eval_every"] * 2, space=space,
               ended=ended)]
    if best:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        lines.append(t("study_best", trial=best["trial"], params=params,
                       metric=t(f"metric_{spec['metric']}", spec["metric"].replace("_", " ")),
                       value=f"{best['value']:.1%}", seeds=spec["seeds"]))
    if study.get("error"):
        lines.append(t("study_failed", error=study["error"]))
    return "\n\n".join(lines)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def export_runs(runs: pd.DataFrame, fmt: str, dest_dir: str | Path) -> str:
    """Write the runs to CSV or Parquet under dest_dir; returns the file path."""
    if runs is None or not len(runs):
        raise FtlabError(t("export_none"))
    fmt = fmt.lower()
    if fmt not in ("csv", "parquet"):
        raise FtlabError(f"unknown export format {fmt!r}; use csv or parquet")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"ftlab-runs-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}.{fmt}"
    frame = runs.drop(columns=[FLAT], errors="ignore")  # the parsed configs of a refresh: `config` holds them
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
