"""Experiment files: a declarative grid of runs (YAML), the command to run it on line 1.

    # python -m ftlab run experiments/quick-compare.yaml
    name: quick-compare
    description: full fine-tuning against LoRA and IA3 on 2,000 tweets
    base: {model: minilm, dataset: tweets-sentiment, max_train: 2000, epochs: 1}
    grid: {method: [full, lora, ia3], seed: [0]}
    method_options: {lora: {r: 8}}

Every combination of the `grid` values is one RunConfig (base + combination + the chosen
method's options). Each is validated when the file loads, so a typo fails before any training.
"""

from __future__ import annotations

import itertools
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
    method_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Options per method name.")

    def configs(self) -> list[RunConfig]:
        unknown = (set(self.base) | set(self.grid)) - set(RunConfig.model_fields)
        if unknown:
            raise ConfigError(f"experiment {self.name!r}: unknown field(s) {', '.join(sorted(unknown))}")
        keys = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            fields = {**self.base, **dict(zip(keys, values))}
            method = fields.get("method", RunConfig.model_fields["method"].default)
            if method in self.method_options and "method_options" not in fields:
                fields["method_options"] = self.method_options[method]
            try:
                out.append(RunConfig(**fields))
            except ConfigError as err:
                combo = ", ".join(f"{k}={v}" for k, v in zip(keys, values))
                raise ConfigError(f"experiment {self.name!r} run ({combo}): {err}") from None
        return out


def load_experiment(path: str | Path) -> Experiment:
    data = read_mapping(path)
    try:
        return Experiment(**data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {format_validation_error(err)}") from None


def load_configs(path: str | Path) -> list[RunConfig]:
    """An experiment grid file, or a single-run config file (a mapping of RunConfig fields)."""
    data = read_mapping(path)
    if "grid" in data or "base" in data:
        return load_experiment(path).configs()
    return [RunConfig(**data)]
