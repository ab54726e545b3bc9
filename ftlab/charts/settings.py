"""A run's settings as the charts name them: stored configs parsed once per refresh (`prepared`),
flattened ("method_options.r"), the variants of a method (runs whose configs differ only by seed
are one setting) and the short labels that tell settings apart in legends."""

from __future__ import annotations

import json

import pandas as pd


# A comparable group: runs of one model on one dataset with one training budget (max_train). A
# Pareto frontier, a verdict and "against full fine-tuning" exist only inside one group.
GROUP = ["model", "dataset", "budget"]


def budget_of(flat: dict) -> float:
    """A run's training budget: its max_train, NaN for all the training set."""
    value = flat.get("max_train")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def budget_text(budget) -> str:
    """"256 examples", or "all examples" for no limit."""
    from ftlab.text import t

    if budget is None or budget != budget:
        return t("budget_all", "all examples")
    return t("budget_n", "{n} examples", n=f"{int(budget):,}")


def group_title(model, dataset, budget) -> str:
    """A comparable group's name: "minilm / tweets-sentiment · 256 examples" ("?" for what a run did not record)."""
    def known(value):
        return "?" if value is None or value != value else value

    return f"{known(model)} / {known(dataset)} · {budget_text(budget)}"


def _labels(agg: pd.DataFrame) -> list[str]:
    """Method names, qualified by model/dataset only when the frame mixes several, by the budget when
    it mixes budgets ("lora (64 examples)"), and by the config fields that tell a method's variants
    apart within a group when it has several ("lora (tuned: lr=0.0035)")."""
    n = len(agg)
    return label_list(agg["method"].tolist(), agg["model"].tolist(), agg["dataset"].tolist(),
                      agg["budget"].tolist() if "budget" in agg else [float("nan")] * n,
                      agg["variant"].tolist() if "variant" in agg else [""] * n)


def label_list(methods: list, models: list, datasets: list, budgets: list, variants: list) -> list[str]:
    """_labels over plain lists (the settings' columns)."""
    mixed = len({(None if mo != mo else mo, None if d != d else d) for mo, d in zip(models, datasets)}) > 1
    mixed_budgets = len({-1 if b is None or b != b else b for b in budgets}) > 1
    out = []
    texts: dict = {}
    for m, mo, d, b, v in zip(methods, models, datasets, budgets, variants):
        if mixed_budgets and b not in texts:
            texts[b] = budget_text(b)
        qualifiers = ([f"{mo}, {d}"] if mixed else []) + ([texts[b]] if mixed_budgets else []) + ([v] if v else [])
        out.append(f"{m} ({'; '.join(qualifiers)})" if qualifiers else str(m))
    return out


def run_qualifiers(config: dict | None) -> list[str]:
    """What sets a run apart from its method's other runs, in words: a tuning study's trial or tuned
    re-run, a training-set size, the run it continues ("tuned", "256 examples", "from #4"). The
    same words in the Run picker, the Playground, the curves' legends and the Queue."""
    from ftlab.text import t

    config = config if isinstance(config, dict) else {}
    out = []
    if config.get("tag"):
        out.append(t(f"tag_{config['tag']}", str(config["tag"])))
    if config.get("max_train"):
        out.append(t("run_examples", n=f"{int(config['max_train']):,}"))
    if config.get("init_from"):
        out.append(t("run_from", run=config["init_from"]))
    return out


def run_name(method, config: dict | None) -> str:
    """A run's method and what sets it apart: "lora (tuned, 256 examples)", "full"."""
    qualifiers = run_qualifiers(config)
    return f"{method} ({', '.join(qualifiers)})" if qualifiers else str(method)


def flat_config(value) -> dict:
    """A run's config (a dict, or the JSON text the store keeps) as flat {"method_options.r": 8, ...};
    {} when there is none."""
    if isinstance(value, str) and value:
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    out = {}
    for key, item in value.items():
        if isinstance(item, dict):
            out.update({f"{key}.{k}": v for k, v in flat_config(item).items()})
        else:
            out[key] = item
    return out


# The column `prepared` adds: each run's stored config, parsed and flattened once.
FLAT = "_flat"


def prepared(runs: pd.DataFrame | None) -> pd.DataFrame | None:
    """These runs with each stored config parsed once (column FLAT), for a refresh that draws several
    charts from them: every chart reads the parsed configs instead of parsing the JSON again."""
    if runs is None or len(runs) == 0 or FLAT in runs or "config" not in runs:
        return runs
    return runs.assign(**{FLAT: [flat_config(c) for c in runs["config"]]})


def flat_configs(runs: pd.DataFrame) -> list[dict]:
    """Each run's flat config: the prepared ones where `prepared` ran, else parsed now ({} without configs)."""
    if FLAT in runs:
        return list(runs[FLAT])
    if "config" in runs:
        return [flat_config(c) for c in runs["config"]]
    return [{} for _ in range(len(runs))]


def effective_batch(flat: dict) -> dict:
    """A flat config with batch_size and grad_accum as their product: runs that differ only in how
    a step's examples are split into micro-batches (the queue's out-of-memory fallback) are the
    same setting."""
    if "batch_size" not in flat:
        return flat
    out = {k: v for k, v in flat.items() if k not in ("batch_size", "grad_accum")}
    out["effective_batch"] = int(flat["batch_size"]) * int(flat.get("grad_accum") or 1)
    return out


def _variants(runs: pd.DataFrame) -> tuple[pd.Series, dict]:
    """Each run's variant key (its config without the seed: runs that differ only by seed are
    repeats of one experiment) and, per key, the fields that set it apart from the method's
    other variants ("max_train=500"); "" when a method has one variant."""
    if FLAT not in runs and "config" not in runs:
        return pd.Series([""] * len(runs), index=runs.index), {}
    from ftlab.config import computed_fields

    flats = [effective_batch({k: v for k, v in computed_fields(f).items() if k != "seed"}) for f in flat_configs(runs)]
    keys = [json.dumps(f, sort_keys=True, default=str) for f in flats]
    names: dict = {}
    budgets = [budget_of(f) for f in flats]
    columns = [runs[c].tolist() if c in runs else [None] * len(runs) for c in ("model", "dataset", "method")]
    # each (model, dataset, method, budget) once, its distinct settings in the order first met:
    # one pass over the runs (plain lists, no pandas per row)
    groups: dict = {}
    for i, (model, dataset, method, budget) in enumerate(zip(*columns, budgets)):
        group = groups.setdefault((model, dataset, method, -1.0 if budget != budget else budget), {})
        if keys[i] not in group:
            group[keys[i]] = flats[i]
    for distinct in groups.values():
        if len(distinct) < 2:
            names.update({k: "" for k in distinct})
            continue
        # each field once, then its values across the settings: linear in settings x fields
        candidates = {f for flat in distinct.values() for f in flat if f not in QUIET_FIELDS and f != "max_train"}
        fields = sorted(f for f in candidates if len({_token(d.get(f)) for d in distinct.values()}) > 1)
        for k, flat in distinct.items():
            text = ", ".join(f"{f.removeprefix('method_options.')}={_short(f, flat.get(f, _added_default(f)))}"
                             for f in fields)
            names[k] = f"{flat['tag']}: {text}" if flat.get("tag") and text else (flat.get("tag") or text)
    keys = pd.Series(keys, index=runs.index)
    return keys, names


def _token(value):
    """A config value as something to compare by: the value with its type for numbers, text and
    None (1, 1.0 and true differ, as in JSON), its JSON for lists and dicts."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value if value == value else "nan")
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _added_default(name: str):
    """The default of a RunConfig field newer than some stored runs (what those runs used), else None."""
    from ftlab.config import ADDED_FIELDS, RunConfig

    return RunConfig.model_fields[name].default if name in ADDED_FIELDS else None


# Config fields left out of variant names: bookkeeping (when to checkpoint) and the tag, which
# leads the name instead ("tuned: lr=0.00352, r=32").
QUIET_FIELDS = {"checkpoint_every", "tag"}


UNSET = {"lr": "default", "max_train": "all", "max_eval": "all", "max_steps": "epochs"}


def _short(name: str, value) -> str:
    """A config value in a label: floats to 3 significant digits; unset as what it means ('lr=default')."""
    if value is None:
        return UNSET.get(name, "none")
    return f"{value:.3g}" if isinstance(value, float) else str(value)

