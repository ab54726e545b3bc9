"""RunConfig: the frozen, validated, hashable description of one fine-tuning run.

A run is fully described by its RunConfig; the store keeps it whole with the run, so any run can
be re-run exactly from its row. Construction validates everything that can be checked without
loading a model: unknown keys, types, ranges, unknown model/dataset/method names, and
method/task combinations that cannot work. Every field carries help text; the CLI uses it for
`--help` and the dashboard for tooltips.

This module imports no torch: the UI builds configs too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import Field, SerializeAsAny, ValidationError, model_validator

from ftlab import methods, tasks, tracking
from ftlab.errors import ConfigError, FtlabError
from ftlab.options import Options, build_options, format_validation_error
from ftlab.models.quantize import HELP as QUANTIZE_HELP
from ftlab.models.quantize import KINDS as QUANTIZE_KINDS
from ftlab.tasks.answers import RULE_HELP, check_rule


ADDED_FIELDS = ("compile", "checkpoint_every", "tag", "balanced_train", "init_from", "head_lr", "max_new_tokens",
                "answer", "stop", "packing", "quantize", "gradient_checkpointing")
# Fields that say where a run is reported, not what it computes: never part of its hash, so a run
# mirrored to a tracker is the same run as one that was not (ftlab sync back-fills the latter).
UNHASHED_FIELDS = ("report_to", "oom_fallbacks", "fell_back")
OOM_FALLBACKS = ("batch", "checkpointing", "quantize")  # ftlab.queue.fallback: what an out-of-memory retry may change
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Quantize = Literal[QUANTIZE_KINDS]
# What a baseline run keeps of the run it is a baseline for: the model, the data (the train subset
# decides the majority label) and how the test is evaluated.
BASELINE_FIELDS = ("model", "dataset", "task", "text_column", "label_column", "encoding", "max_train",
                   "balanced_train", "max_eval",
                   "split_seed", "max_length", "batch_size", "eval_batch_size", "precision", "device", "report_to",
                   "max_new_tokens", "answer", "stop")


def computed_fields(data: dict) -> dict:
    """A config's fields (a dict of RunConfig fields, nested or flattened) as what its run computes:
    without the fields that only say where it is reported (UNHASHED_FIELDS), and with fields newer
    than the first stored runs (ADDED_FIELDS) left out at their defaults, so a run stored before a
    field existed is the same setting as one with the field at its default. The rule of
    RunConfig.hash, and of Compare's settings."""
    out = {k: v for k, v in data.items() if k not in UNHASHED_FIELDS}
    for name in ADDED_FIELDS:
        if name in out and out[name] == RunConfig.model_fields[name].default:
            del out[name]
    return out


class RunConfig(Options):
    """One fine-tuning run: what to train, how, and for how long."""

    # --- what -------------------------------------------------------------------------------
    model: str = Field(
        "minilm",
        description="Base model: 'minilm' (embedded all-MiniLM-L6-v2), 'tiny' / 'tiny-gpt2' / "
        "'tiny-llama' (random 2-layer models for tests), a Hugging Face Hub id, or a local directory.",
    )
    dataset: str = Field(
        "tweets-sentiment",
        description="Dataset: a built-in name ('tweets-sentiment', 'zh-reviews', 'zh-ner'), a local "
        "CSV/TSV/JSONL or CoNLL file, or a Hugging Face Hub dataset name (e.g. 'glue/sst2').",
    )
    task: Optional[str] = Field(
        None,
        description="'classification' (one label per text), 'ner' (one tag per token) or 'sft' (a decoder "
        "generates the answer to a prompt); inferred from the dataset when left empty.",
    )
    text_column: Optional[str] = Field(None, description="Text column of a local/Hub table (default: text, sentence, ...).")
    label_column: Optional[str] = Field(None, description="Label column of a local/Hub table (default: label, sentiment, ...).")
    encoding: Optional[str] = Field(None, description="Text encoding of a local file (default: detected).")
    method: str = Field("lora", description="Fine-tuning method; `python -m ftlab methods` lists them.")
    method_options: SerializeAsAny[Options] = Field(
        default_factory=Options,
        description="Options of the chosen method (see `python -m ftlab methods`); CLI: --opt key=value.",
    )

    # --- how long ---------------------------------------------------------------------------
    epochs: float = Field(3.0, gt=0, le=1000, description="Passes over the training set (fractions allowed).")
    max_steps: Optional[int] = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).")
    time_budget_s: Optional[float] = Field(
        None, gt=0, description="Stop training after this many seconds, then evaluate what was reached."
    )
    max_train: Optional[int] = Field(None, ge=1, description="Use at most this many training examples (a fixed seeded subset).")
    head_lr: Optional[float] = Field(None, gt=0, le=10, description="Learning rate of the fresh task head. "
                                     "Empty: the run's lr for classification; 5e-2 for NER, where a fresh token head "
                                     "needs a large rate to learn rare entity tags in a short run.")
    init_from: Optional[int] = Field(None, ge=1, description="Continue from this run's trained weights (same model "
                                     "and method; the method's options are the run's) on this run's data, which must "
                                     "have the same label names. The run is also scored on the first run's test split "
                                     "before and after, and reports the difference as forgetting.")
    balanced_train: bool = Field(False, description="With max_train (classification): take the training examples "
                                 "class by class, as equal in number as the data allows, as a learning curve's small "
                                 "sizes do; off: the first max_train of the shuffled split, in the data's proportions.")
    max_eval: Optional[int] = Field(None, ge=1, description="Use at most this many validation and test examples each.")

    # --- optimisation -----------------------------------------------------------------------
    batch_size: int = Field(32, ge=1, le=8192, description="Examples per forward pass.")
    grad_accum: int = Field(1, ge=1, le=1024, description="Forward passes per optimizer step (effective batch = batch_size x grad_accum).")
    lr: Optional[float] = Field(None, gt=0, le=1, description="Peak learning rate; empty uses the method's tuned default.")
    warmup_ratio: float = Field(0.06, ge=0, le=0.5, description="Share of steps spent warming the learning rate up linearly from 0.")
    weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW decoupled weight decay (not applied to biases and norms).")
    max_grad_norm: float = Field(1.0, ge=0, description="Clip gradients to this global norm (0 turns clipping off).")
    max_length: int = Field(128, ge=8, le=8192, description="Truncate inputs to this many tokens (special tokens included).")
    eval_every: int = Field(
        0, ge=0, description="Evaluate on the validation split every N optimizer steps and keep the best "
        "checkpoint for the test (0: at the end of each epoch; a run of one epoch then skips its lone validation "
        "pass, which would choose between nothing, and draws no validation curve).")
    early_stopping: int = Field(
        0, ge=0, description="Stop after this many evaluations without a better validation score (0: off)."
    )
    eval_batch_size: Optional[int] = Field(None, ge=1, description="Examples per evaluation batch (default: 2 x batch_size).")
    max_new_tokens: Optional[int] = Field(None, ge=1, le=4096, description="Generative tasks: the longest answer "
                                          "evaluation generates, in tokens (default: the dataset's, else the longest "
                                          "train answer + 16).")
    answer: Optional[str] = Field(None, description="Generative tasks: " + RULE_HELP)
    packing: bool = Field(False, description="Generative tasks: pack several short training examples into one row "
                          "of up to max_length tokens, each keeping its own positions and attending only to itself: "
                          "fewer pad tokens, fewer steps per epoch.")
    stop: Optional[tuple[str, ...]] = Field(None, description="Generative tasks: strings that end a generated answer (it is cut "
                                  "before them), besides the end-of-turn token.")

    # --- where, reproducibility ---------------------------------------------------------------
    seed: int = Field(0, ge=0, description="Random seed of model init, data order and dropout.")
    split_seed: int = Field(0, ge=0, description="Seed of the train/validation/test split for datasets that ship without one.")
    precision: Precision = Field("auto", description="'auto' = bf16 autocast on a GPU that supports it, fp32 on CPU.")
    quantize: Quantize = Field("none", description=QUANTIZE_HELP)
    gradient_checkpointing: bool = Field(False, description="Recompute each layer's activations in the backward "
                                         "pass instead of keeping them: far less memory for about a third more "
                                         "compute; the same result.")
    oom_fallbacks: tuple[str, ...] = Field(
        ("batch",), description="What the queue may change, in this order, when a run runs out of memory, resuming "
        "from its last checkpoint: 'batch' (half the batch, twice grad_accum: the same effective batch), "
        "'checkpointing' (gradient checkpointing), 'quantize' (an nf4 base, for methods that keep it frozen); "
        "e.g. 'batch,checkpointing,quantize'. Empty: fail. A run changed by checkpointing or quantization is "
        "a setting of its own on Compare.")
    fell_back: tuple[str, ...] = Field((), description="Set by the queue: what its out-of-memory retries "
                                       "changed, in order (the run's record of its fallbacks).")
    compile: bool = Field(
        False,
        description="torch.compile the model (dynamic shapes: one compilation for training and one for "
        "evaluation, whatever the batch lengths). Pays on a GPU for runs of thousands of steps; the "
        "compilation itself takes tens of seconds (minutes on a small CPU).",
    )
    checkpoint_every: str = Field(
        "10m",
        description="Write a checkpoint a stopped run resumes from (what the method trains, optimizer, schedule, "
        "random states, place in the data): every N optimizer steps ('500'), or every N minutes or seconds of "
        "training ('10m', '90s'); '0' turns it off. The default costs nothing for runs under 10 minutes.",
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    report_to: tuple[str, ...] = Field(
        (), description="Experiment trackers that mirror the run (config, training curve, evaluations, final "
        "metrics): " + ", ".join(tracking.NAMES) + "; several allowed, e.g. 'mlflow,tensorboard'. Each needs its "
        "package installed. Empty: none.")
    tag: Optional[str] = Field(
        None, max_length=64, description="A label the run carries into Compare, e.g. 'tuned' (a study's best "
        "setting re-run over seeds) or 'trial' (a study's search runs, left off the charts); training ignores it.")

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        """Fill the inferred task and turn method_options into the method's own options class."""
        from ftlab import data as datasets

        if not isinstance(data, dict):
            return data
        data = dict(data)
        method = methods.get_method(data.get("method", cls.model_fields["method"].default))
        data["method_options"] = build_options(method.options_cls, data.get("method_options"), "method_options.")
        dataset = data.get("dataset", cls.model_fields["dataset"].default)
        if not isinstance(dataset, str) or not dataset.strip():
            raise ConfigError("dataset: give a built-in name, a file path or a Hub dataset name")
        if not data.get("task"):
            data["task"] = datasets.infer_task(dataset)
        every = data.get("checkpoint_every")
        if isinstance(every, int) and not isinstance(every, bool):  # a step count, as flags and YAML type it
            data["checkpoint_every"] = str(every)
        for listed in ("report_to", "oom_fallbacks"):  # CLI and forms: "mlflow,tensorboard"; "none"
            if isinstance(data.get(listed), str):
                data[listed] = [t for t in data[listed].replace(" ", ",").split(",") if t and t != "none"]
        task = tasks.get_task(data["task"])  # an unknown task is refused here, with the known ones
        if task.default_head_lr is not None and data.get("head_lr") in (None, "") and method.trains:
            data["head_lr"] = task.default_head_lr
        return data

    @model_validator(mode="after")
    def _check_combination(self) -> "RunConfig":
        from ftlab import models

        models.check_name(self.model)
        method = methods.get_method(self.method)
        if self.task not in method.tasks:
            raise ConfigError(
                f"method '{self.method}' does not support task '{self.task}' "
                f"(it supports: {', '.join(sorted(method.tasks))}); pick another method"
            )
        arch = models.architecture_hint(self.model)
        task = tasks.get_task(self.task)
        if arch is not None and task.needs_decoder and not models.is_decoder(arch):
            raise ConfigError(f"task {self.task}: model '{self.model}' is an encoder ({arch}); "
                              f"{self.task} needs a decoder such as smollm2")
        if (reason := check_rule(self.answer)) is not None:
            raise ConfigError(reason)
        if self.packing and task.generate is None:
            raise ConfigError(f"packing: only generative tasks pack examples into rows; {self.task} has one "
                              "label per text or per word")
        if self.packing and method.family == "prompt":
            raise ConfigError(f"packing: {self.method} adds virtual tokens to every row, which packed examples "
                              "would share; train it unpacked")
        if arch is not None and method.check is not None:
            reason = method.check(self.method_options, self.task, arch)
            if reason:
                raise ConfigError(f"method '{self.method}' cannot run on model '{self.model}' ({arch}): {reason}")
        if self.quantize != "none" and self.quantize not in method.quantized:
            raise ConfigError(f"quantize {self.quantize}: method '{self.method}' cannot run on a quantized base "
                              f"({method.quantized_why}); use quantize none, or a method that keeps the base frozen "
                              "such as lora")
        if self.gradient_checkpointing and not method.checkpointing:
            raise ConfigError(f"gradient_checkpointing: peft cannot run '{self.method}' with gradient checkpointing; "
                              "turn it off")
        unknown = [f for f in self.oom_fallbacks if f not in OOM_FALLBACKS]
        if unknown:
            raise ConfigError(f"oom_fallbacks: unknown {', '.join(map(repr, unknown))}; choose from "
                              f"{', '.join(OOM_FALLBACKS)}")
        reason = tracking.unknown(self.report_to)
        if reason:
            raise ConfigError(reason)
        self.checkpoint_policy  # noqa: B018 - raises for a malformed value
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N' (got {self.device!r})")
        return self

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(format_validation_error(err)) from None

    # --- derived ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @property
    def hash(self) -> str:
        """Stable across processes and machines: sha256 of the canonical JSON, 16 hex digits.
        Fields added after runs were first stored count only when set away from their default, so
        the hash of every earlier run stays what it was."""
        blob = json.dumps(computed_fields(self.to_dict()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def checkpoint_policy(self) -> tuple[int, float]:
        """(every N steps, every N seconds) from `checkpoint_every`; 0 where unused."""
        text = str(self.checkpoint_every).strip().lower()
        unit = {"m": 60.0, "s": 1.0}.get(text[-1:]) if text else None
        number = text[:-1] if unit else text
        try:
            value = float(number)
        except ValueError:
            value = -1.0
        if value < 0 or (unit is None and value != int(value)):
            raise ConfigError(f"checkpoint_every: expected steps ('500'), minutes ('10m'), seconds ('90s') or '0' "
                              f"(got {self.checkpoint_every!r})")
        return (0, value * unit) if unit else (int(value), 0.0)

    @property
    def effective_lr(self) -> float:
        return self.lr if self.lr is not None else methods.get_method(self.method).default_lr

    @property
    def effective_head_lr(self) -> float:
        """The task head's rate: head_lr when set (NER runs set it by default), else lr."""
        return self.head_lr if self.head_lr is not None else self.effective_lr

    def baselines(self) -> list["RunConfig"]:
        """The baseline runs this run is read against (methods that train nothing: majority class,
        zero-shot): same model, data and evaluation, every training field at its default, so runs
        that differ only in how they train share one baseline run (one config hash)."""
        keep = {name: getattr(self, name) for name in BASELINE_FIELDS}
        out = []
        for method in methods.baselines(self.task):
            try:
                out.append(RunConfig(**keep, method=method.name))
            except ConfigError:  # a baseline this model cannot run (its static check refuses it)
                continue
        return out

    def baseline_key(self) -> str:
        """What a baseline keeps of a run (BASELINE_FIELDS), as one comparable value."""
        return json.dumps({name: getattr(self, name) for name in BASELINE_FIELDS}, sort_keys=True, default=str)

    def replace(self, **changes: Any) -> "RunConfig":
        """A new validated config with some fields changed (method options reset if the method changes)."""
        data = self.to_dict()
        if "method" in changes and changes["method"] != self.method and "method_options" not in changes:
            data.pop("method_options")
        if "dataset" in changes and "task" not in changes:
            data.pop("task")
        data.update(changes)
        return RunConfig(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
        """A single run from a YAML or JSON mapping of fields."""
        return cls(**read_mapping(path))


def read_mapping(path: str | Path) -> dict:
    """Read a YAML/JSON file holding a mapping, with a one-line error for every way it can fail."""
    p = Path(path)
    if not p.is_file():
        raise FtlabError(f"config file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{p}: not valid YAML/JSON ({first})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of fields at the top level")
    return data


def parse_value(text: str) -> Any:
    """Type a CLI value the way YAML would: '8' -> 8, 'true' -> True, '[q,v]' -> ['q', 'v']."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_opts(pairs: list[str] | None) -> dict:
    """`--opt r=8 --opt target_modules=[query,value]` -> {'r': 8, 'target_modules': [...]}."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--opt {pair!r}: expected key=value, e.g. --opt r=8")
        out[key.strip()] = parse_value(value)
    return out


def field_help() -> dict[str, str]:
    """Help text of every RunConfig field, for the CLI and the dashboard's tooltips."""
    return {name: f.description or "" for name, f in RunConfig.model_fields.items()}
