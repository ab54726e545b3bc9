"""Fine-tuning methods, one module each, registered by name (like peft's tuners).

A method is: an options class (validated, with help text on every field), a default learning
rate that trains well on the embedded data, the tasks it supports, an optional static check
(method/model combinations that cannot work fail at config time, never mid-training), an
`apply(model, options, ctx)` that freezes/adds parameters, and an optional `after_step` hook.

Adding a method = one new module in this package that calls `register_method`; it is picked up
automatically. No `if method == ...` anywhere else.

Importing this package imports no torch: `apply` functions import it when they run.

May import: pydantic, ftlab.options, ftlab.models, ftlab.errors; torch and peft inside `apply`.
Never ftlab.config (which imports this registry to validate runs) or the engine.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ftlab.errors import ConfigError
from ftlab.options import Options

TASKS = frozenset({"classification", "ner", "sft"})  # a method that names none runs every task
BASELINE_FULL = "a baseline reads the base model as it ships, in full precision"


@dataclass(frozen=True)
class MethodContext:
    """What `apply` may need to know about the run."""

    task: str  # "classification" | "ner"
    architecture: str  # transformers model_type, e.g. "bert", "gpt2", "llama"
    head_prefixes: tuple[str, ...]  # the task head's module names ("classifier", "score")
    total_steps: int  # optimizer steps planned (AdaLoRA's budget schedule needs it)
    label_names: tuple = ()  # id -> name (the baselines score label names)
    train_label_counts: tuple = ()  # examples (tokens for NER) per label id in the train split
    tokenizer: Any = None  # the model's tokenizer (the zero-shot baseline embeds the label names)
    model_name: str = ""  # the run's model (prompting loads its language-model head)
    seed: int = 0  # the run's seed (few-shot prompting draws its examples with it)
    train: Any = None  # the train split (texts, labels): few-shot prompting's examples come from it


@dataclass(frozen=True)
class Method:
    name: str
    options_cls: type[Options]
    apply: Callable[[Any, Options, MethodContext], Any]
    help: str
    default_lr: float
    tasks: frozenset = TASKS
    check: Optional[Callable[[Options, str, str], Optional[str]]] = None
    after_step: Optional[Callable[[Any, int], None]] = None
    family: str = "peft"  # "full", "selective", "additive", "reparam", "prompt", "baseline", "prompting": chart groups
    trains: bool = True  # False: a baseline, evaluated as `apply` returns it, no optimizer step
    search: tuple = ()  # tuning: (option name, candidate values) pairs, next to the options they set
    lr_range: Optional[tuple] = None  # tuning: the log-uniform learning-rate range (default: default_lr / 10 .. x 10)
    reads_train: bool = False  # apply() reads ctx.train (few-shot prompting's examples)
    # options -> True when only the task head trains on a frozen body: the engine may then train
    # the head on the body's cached features (ftlab.train.feature_cache)
    frozen_body: Optional[Callable[[Options], bool]] = None
    # the quantized bases (ftlab.models.quantize: "int8", "nf4") it trains on; none for methods
    # that change the base's own weights
    quantized: frozenset = frozenset({"int8", "nf4"})
    quantized_why: str = ""  # why a quantization is refused (what the method does to the base)
    checkpointing: bool = True  # False: it cannot run with gradient checkpointing (peft refuses prefix tuning)

    def search_space(self) -> dict:
        """What `ftlab tune` searches for this method: {"lr": ("log", low, high), option: [values]}."""
        low, high = self.lr_range or (self.default_lr / 10, min(self.default_lr * 10, 0.3))
        return {"lr": ("log", low, high), **{name: list(values) for name, values in self.search}}


_REGISTRY: dict[str, Method] = {}


def register_method(name: str, options_cls: type[Options], apply: Callable, *, help: str, default_lr: float,
                    tasks=TASKS, check=None, after_step=None, family: str = "peft", trains: bool = True,
                    search: Optional[dict] = None, lr_range: Optional[tuple] = None, reads_train: bool = False,
                    frozen_body: Optional[Callable[[Options], bool]] = None, quantized=("int8", "nf4"),
                    quantized_why: str = "", checkpointing: bool = True) -> Method:
    """`search`: the options worth tuning and their candidate values ({"r": [4, 8, 16]}); each
    must be a field of `options_cls`. `lr_range`: (low, high) of the learning rate's search.
    `quantized`: the quantized bases it trains on, `quantized_why` why not the others."""
    if name in _REGISTRY:
        raise ValueError(f"method {name!r} registered twice")
    unknown = set(search or {}) - set(options_cls.model_fields)
    if unknown:
        raise ValueError(f"method {name!r}: search names unknown options {sorted(unknown)}")
    method = Method(name, options_cls, apply, " ".join(help.split()), default_lr, frozenset(tasks), check,
                    after_step, family, trains, tuple((k, tuple(v)) for k, v in (search or {}).items()),
                    tuple(lr_range) if lr_range else None, reads_train, frozen_body, frozenset(quantized),
                    " ".join(quantized_why.split()), checkpointing)
    _REGISTRY[name] = method
    return method


_DISCOVERED: list = []


def _discover() -> None:
    """Import every method module once. (Not "is the registry empty?": importing one method module
    directly registers that method alone, and the others must still be found.)"""
    if _DISCOVERED:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _DISCOVERED.append(True)


def get_method(name: str) -> Method:
    _discover()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def list_methods() -> list[Method]:
    _discover()
    return list(_REGISTRY.values())


def baselines(task: str) -> list[Method]:
    """The reference points of a task (family "baseline"): drawn on every score chart."""
    return [m for m in list_methods() if not m.trains and task in m.tasks]


def option_help(method: Method) -> list[dict]:
    """Each option's name, type, default and help, for `ftlab methods` and the dashboard."""
    rows = []
    for fname, f in method.options_cls.model_fields.items():
        ann = getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", "")
        rows.append({"name": fname, "type": ann, "default": f.get_default(call_default_factory=True),
                     "help": f.description or "", "method": method.name})
    return rows
