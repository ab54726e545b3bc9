"""Experiments: what one launch runs, and the files that declare one.

An experiment is the unit Compare shows: what one launch queued (a grid with its baselines, a
tuning study with its re-runs, a learning curve, a continuation, an experiment file), stored with
an id, a name the user can edit and its kind (`new_experiment`); its jobs and runs name it.

Experiment files: a declarative grid of runs (YAML), the command to run it on line 1.

    # python -m ftlab run experiments/quick-compare.yaml
    name: quick-compare
    description: full fine-tuning against LoRA and IA3 on 2,000 tweets
    base: {model: minilm, dataset: tweets-sentiment, max_train: 2000, epochs: 1}
    grid: {method: [full, lora, ia3], seed: [0]}
    method_options: {lora: {r: 8}}

Every combination of the `grid` values is one RunConfig (base + combination + the chosen
method's options). Where some values only make sense together (LoRA on a 4-bit base, full
fine-tuning on a full-precision one), `settings` lists them instead, each a mapping of fields, and
every setting runs with every combination of the grid:

    grid: {seed: [0, 1]}
    settings: [{method: lora}, {method: lora, quantize: nf4}, {method: full}]

Each run is validated when the file loads, so a typo fails before any training.
"""

from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from ftlab.config import RunConfig, read_mapping
from ftlab.options import Options, format_validation_error
from ftlab.errors import ConfigError


class Experiment(Options):
    name: str = Field(description="Short name of the experiment.")
    description: str = Field("", description="What the experiment compares, in a sentence.")
    base: dict[str, Any] = Field(default_factory=dict, description="RunConfig fields shared by every run.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="RunConfig fields to vary: every combination runs.")
    settings: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Settings that run as listed, not crossed with each other (each a mapping of RunConfig "
                    "fields); every one runs with every combination of the grid.")
    method_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Options per method name.")

    def configs(self) -> list[RunConfig]:
        in_settings = {k for s in self.settings for k in s}
        unknown = (set(self.base) | set(self.grid) | in_settings) - set(RunConfig.model_fields)
        if unknown:
            raise ConfigError(f"experiment {self.name!r}: unknown field(s) {', '.join(sorted(unknown))}")
        both = set(self.grid) & in_settings
        if both:
            raise ConfigError(f"experiment {self.name!r}: {', '.join(sorted(both))} is both in the grid and in "
                              "settings; name it in one of them")
        empty = [k for k, values in self.grid.items() if not values]
        if empty:
            raise ConfigError(f"experiment {self.name!r}: grid {', '.join(empty)} lists no value")
        keys = list(self.grid)
        out, seen = [], {}
        for setting in self.settings or [{}]:
            for values in itertools.product(*(self.grid[k] for k in keys)):
                chosen = {**setting, **dict(zip(keys, values))}
                combo = ", ".join(f"{k}={v}" for k, v in chosen.items()) or "base"
                fields = {**self.base, **chosen}
                method = fields.get("method", RunConfig.model_fields["method"].default)
                if method in self.method_options and "method_options" not in fields:
                    fields["method_options"] = self.method_options[method]
                try:
                    config = RunConfig(**fields)
                except ConfigError as err:
                    raise ConfigError(f"experiment {self.name!r} run ({combo}): {err}") from None
                if config.hash in seen:
                    raise ConfigError(f"experiment {self.name!r}: run ({combo}) is run ({seen[config.hash]}) again")
                seen[config.hash] = combo
                out.append(config)
        return out


def load_experiment(path: str | Path) -> Experiment:
    data = read_mapping(path)
    try:
        return Experiment(**data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {format_validation_error(err)}") from None


def _declares_runs(data: dict) -> bool:
    """An experiment file (base, grid, settings), not a single run's config."""
    return any(k in data for k in ("base", "grid", "settings"))


def load_configs(path: str | Path) -> list[RunConfig]:
    """An experiment grid file, or a single-run config file (a mapping of RunConfig fields)."""
    data = read_mapping(path)
    if _declares_runs(data):
        return load_experiment(path).configs()
    return [RunConfig(**data)]


def file_experiment(path: str | Path, configs: list[RunConfig], owner: str | None = None) -> dict:
    """The experiment record of a launch from a file: named by its `name` (a grid file) or its file name."""
    data = read_mapping(path)
    name = data.get("name") if _declares_runs(data) else None
    return new_experiment(configs, kind="file", name=str(name or Path(path).stem), owner=owner)


# What a launch was: the kinds an experiment has (ftlab.store keeps "earlier" for runs older than experiments).
KINDS = ("grid", "tune", "curve", "continue", "file", "earlier")


def launch_kind(configs: list[RunConfig]) -> str:
    """"continue" when the launch continues runs, "curve" when it trains a method at several
    training-set sizes, else "grid"."""
    if any(c.init_from for c in configs):
        return "continue"
    return "curve" if len({c.max_train for c in configs}) > 1 else "grid"


def _short(dataset: str) -> str:
    return Path(dataset).name if ("/" in dataset and Path(dataset).suffix) else dataset


def default_name(configs: list[RunConfig], kind: str) -> str:
    """A name that says what the launch compares: its methods, model and data, and what sets the
    kind apart ("tuning lora, ia3 · minilm / tweets-sentiment · 256 examples", "learning curve head,
    lora (64–256 examples) · ...", "lora #4 → sentiment-products")."""
    from ftlab.text import t

    if not configs:
        return t("exp_empty", "empty launch")
    first = configs[0]
    methods = ", ".join(dict.fromkeys(c.method for c in configs))
    where = f"{first.model} / {_short(first.dataset)}"
    sizes = sorted({c.max_train for c in configs if c.max_train})
    budget = t("exp_examples", "{n} examples", n=f"{sizes[0]:,}") if len(sizes) == 1 else ""
    if kind == "continue":
        parents = ", ".join(dict.fromkeys(f"#{c.init_from}" for c in configs if c.init_from))
        return f"{methods} {parents} → {_short(first.dataset)}"
    if kind == "curve":
        span = f"{sizes[0]:,}–{sizes[-1]:,}" if sizes else ""
        return t("exp_curve", "learning curve {methods} ({span} examples) · {where}", methods=methods, span=span,
                 where=where)
    head = t("exp_tune", "tuning {methods}", methods=methods) if kind == "tune" else methods
    return " · ".join(p for p in (head, where, budget) if p)


def new_experiment(configs: list[RunConfig], *, kind: str | None = None, name: str | None = None,
                   owner: str | None = None) -> dict:
    """The record of a new experiment for these configs (what ftlab.store.Store.add_jobs and
    create_run take): a fresh id, the name given or the default one, the kind, the owner, the time."""
    kind = kind or launch_kind(configs)
    if kind not in KINDS:
        raise ConfigError(f"unknown experiment kind {kind!r}; one of {', '.join(KINDS)}")
    name = (name or "").strip() or default_name(configs, kind)
    return {"id": "x" + uuid.uuid4().hex[:10], "name": name, "kind": kind, "owner": owner, "time": time.time()}
