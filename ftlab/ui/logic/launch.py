"""The Launch tab's logic: the form's fields and defaults, parsing and validating a launch into its
grid of `RunConfig`s and a method's options table. (What the tab shows
beside the form, the dataset card and the estimate, is in ftlab.ui.logic.preview.)

Plain functions (no gradio, no torch/transformers); may import pandas, ftlab.config,
ftlab.errors, ftlab.provenance and the other logic modules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from ftlab.config import RunConfig, field_help, parse_value
from ftlab.errors import ConfigError, FtlabError, one_line
from ftlab.text import t
from ftlab.ui.logic.format import md_escape

# ---- defaults: a launch on 2 CPU cores finishes in minutes -------------------------------------

DEFAULT_MODEL = "minilm"
DEFAULT_DATASET = "tweets-sentiment"
DEFAULT_METHODS = ["full", "lora", "ia3"]
SHARED_CHECK_METHOD = "lora"  # checks the fields every method of a launch shares (build_grid)
DEFAULT_SEEDS = 1
MAX_SEEDS = 20
MAX_RUNS_PER_LAUNCH = 200

# The training options the Launch tab shows, in order; each one's widget follows from its type in
# RunConfig's schema (form_kind), its help from the field's description.
FORM_FIELDS = ["epochs", "max_train", "max_eval", "batch_size", "lr", "max_length", "eval_every", "max_steps",
               "time_budget_s", "grad_accum", "warmup_ratio", "weight_decay", "head_lr", "max_grad_norm",
               "early_stopping", "eval_batch_size", "split_seed", "init_from", "precision", "quantize",
               "gradient_checkpointing", "oom_fallbacks", "compile", "device",
               "report_to", "max_new_tokens", "answer", "packing"]
# Where the form starts away from RunConfig's default: RunConfig's would take hours on 2 CPU cores.
FORM_DEFAULTS = {"epochs": 1.0, "max_train": 2000, "max_eval": 1000, "batch_size": 16,
                 "eval_every": 50}  # 2,000 examples / 16 = 125 steps: validation at 50, 100, 125, a curve
# The first few are shown; the rest sit in an "Advanced" accordion.
MAIN_TRAINING_FIELDS = FORM_FIELDS[:8]
DATA_FIELDS = ["text_column", "label_column", "encoding"]
UNSET_WHEN_EMPTY = DATA_FIELDS + ["answer"]  # text boxes whose empty value means "the data's own"
EMPTY_IS_A_VALUE = ["oom_fallbacks"]  # text boxes whose empty value is the field's empty list ("none")


def form_kind(name: str) -> Any:
    """The widget a RunConfig field gets, from its type: "int", "float", "optint" / "optfloat" (a number
    box where 0 means unset), "bool" (a checkbox), "text", a tuple of choices (a Literal: a dropdown),
    "trackers" (a checkbox per tracker), or "lr" (text: empty is the method's default)."""
    if name == "lr":
        return "lr"
    if name == "report_to":
        return "trackers"
    annotation = RunConfig.model_fields[name].annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return tuple(get_args(annotation))
    optional = len(args) == 1 and type(None) in get_args(annotation)
    base = args[0] if optional else annotation
    if base is bool:
        return "bool"
    if base in (int, float):
        return ("opt" if optional else "") + base.__name__
    return "text"


def form_default(name: str) -> Any:
    """What the form shows at first: FORM_DEFAULTS, else RunConfig's default as its widget holds it
    (unset numbers as 0, no trackers as [], the method's lr as an empty box)."""
    if name in FORM_DEFAULTS:
        return FORM_DEFAULTS[name]
    default = RunConfig.model_fields[name].default
    kind = form_kind(name)
    if default is None:
        return "" if kind in ("lr", "text") else 0
    if kind == "trackers":
        return list(default)
    return ",".join(default) if isinstance(default, tuple) else default  # a list field as its text: "batch"


def _training_fields() -> list[tuple[str, Any, Any]]:
    return [(name, form_kind(name), form_default(name)) for name in FORM_FIELDS]


# (field, kind, default shown), in the form's order.
TRAINING_FIELDS: list[tuple[str, Any, Any]] = _training_fields()
# A number box is never empty, so 0 stands for "not set" in the optional number fields (text: zero_<name>).
ZERO_MEANS = tuple(name for name, kind, _ in TRAINING_FIELDS if kind in ("optint", "optfloat"))



def page_label(name: str) -> str:
    """Where a RunConfig field sits on the Launch tab, as a person finds it: errors name the
    widget ("Columns and encoding > Label column"), not a command-line flag."""
    if name in DATA_FIELDS:
        return f"{t('data_accordion')} > {t('data_' + name)}"
    if name == "model":
        return t("launch_model")
    if name == "dataset":
        return t("launch_dataset")
    if name in {n for n, _, _ in TRAINING_FIELDS} - set(MAIN_TRAINING_FIELDS):
        return f"{t('advanced_accordion')} > {name}"
    return name


def training_defaults() -> dict[str, Any]:
    return {name: default for name, _, default in TRAINING_FIELDS}


def english_help(name: str) -> str:
    """The field's help text from RunConfig (the same words as `ftlab train --help`), with what 0
    means in a number box."""
    text = field_help().get(name, "")
    if name in ZERO_MEANS:
        text += t("zero_means", lang_code="en", what=t(f"zero_{name}", lang_code="en"))
    return text


def help_for(name: str) -> str:
    """The field's help in the current language: zh.yaml's field_<name>, else the English."""
    return t(f"field_{name}", english_help(name))


def model_markdown(name: str) -> str:
    """One line under the model picker: what a built-in model is (size, language, where it comes
    from); a Hub id or a folder gets nothing."""
    from ftlab import models

    info = models.BUILTIN.get((name or "").strip())
    if not info:
        return ""
    return f"{t('kind_' + info.kind)} · {md_escape(t('model_' + info.name, info.description))}"


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


SIZED_BY_TASK = ("max_train", "max_eval", "eval_every", "batch_size")  # form fields a task may size


def task_form_values(dataset: str, model: str, current: dict[str, Any]) -> dict[str, Any]:
    """The form values to change when `dataset` is picked: the sizes its task suits
    (Task.launch_defaults) where the form still shows another task's or the form's defaults (never
    a value the user typed), and a model that can run the task where the one picked cannot."""
    from ftlab import data, models
    from ftlab.tasks import get_task, list_tasks

    try:
        task = get_task(data.infer_task(dataset))
    except Exception:  # noqa: BLE001 - an unknown or unreadable dataset: its card says why
        return {}
    changes = {}
    for name in SIZED_BY_TASK:
        want = task.launch_defaults.get(name, FORM_DEFAULTS.get(name, RunConfig.model_fields[name].default))
        untouched = {FORM_DEFAULTS.get(name, RunConfig.model_fields[name].default)} | {
            other.launch_defaults[name] for other in list_tasks() if name in other.launch_defaults}
        value = _as_number(current.get(name))
        if value in {_as_number(v) for v in untouched} and value != _as_number(want):
            changes[name] = want
    arch = models.architecture_hint(model or "")
    if task.needs_decoder and arch is not None and not models.is_decoder(arch) and task.launch_defaults.get("model"):
        changes["model"] = task.launch_defaults["model"]
    return changes


def _as_number(value):
    """A form value as a number where it reads as one (a number box gives 2000 or 2000.0, a text box
    "2000"), else as it is."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def clean_training(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Raw training widget values -> RunConfig fields, and a message per bad field."""
    kinds = {name: kind for name, kind, _ in TRAINING_FIELDS}
    out, errors = {}, []
    for name, value in values.items():
        kind = kinds.get(name, "text")
        if kind == "bool":
            out[name] = bool(value)
            continue
        if kind == "trackers":
            out[name] = list(value or [])
            continue
        if isinstance(kind, tuple) or kind == "text":
            text = (value or "").strip() if isinstance(value, str) else value
            if text in (None, ""):
                if name in UNSET_WHEN_EMPTY:
                    continue
                if name in EMPTY_IS_A_VALUE:
                    out[name] = ""
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


CURVE_SIZES = "16, 64, 256, 1024, 4096, all"


def parse_sizes(text: Any) -> list[int | None]:
    """"16, 64, all" -> [16, 64, None]; empty -> []. Raises ConfigError naming the bad entry."""
    out: list[int | None] = []
    for part in str(text or "").replace(";", ",").replace(" ", ",").split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part in ("all", "0"):
            size = None
        else:
            try:
                size = int(float(part.replace("_", "")))
            except ValueError:
                raise ConfigError(f"training-set sizes: {part!r} is not a whole number or 'all'") from None
            if size < 2:
                raise ConfigError(f"training-set sizes: {size} is too small (at least 2 examples)")
        if size not in out:
            out.append(size)
    return sorted(out, key=lambda n: math.inf if n is None else n)


def grid_size(methods: Iterable[str] | None, seeds: Any, sizes: Any = "") -> int:
    try:
        n_seeds = int(seeds or 0)
    except (TypeError, ValueError):
        n_seeds = 0
    try:
        n_sizes = max(1, len(parse_sizes(sizes)))
    except ConfigError:
        n_sizes = 1
    return len(list(methods or [])) * max(n_seeds, 0) * n_sizes


def queue_label(methods, seeds, sizes: Any = "", baselines: int = 0, trials: int = 0) -> str:
    """What the Queue button will queue: the grid's runs and the `baselines` it adds ("Queue 3 runs +
    2 baselines"); with `trials` (Tune), each method's search trials, then its best setting and its
    default setting over the seeds."""
    n = grid_size(methods, seeds, sizes)
    extra = t("queue_plus_baselines", n=baselines) if baselines else ""
    if trials:
        n_methods = len(list(methods or []))
        return t("queue_tune", trials=n_methods * int(trials), runs=2 * n, extra=extra)
    return (t("queue_one") if n == 1 else t("queue_many", n=n)) + extra


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
        grid.errors.append(t("grid_no_model"))
    if not dataset:
        grid.errors.append(t("grid_no_dataset"))
    if not methods:
        grid.errors.append(t("grid_no_methods"))
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
    training = dict(training or {})
    try:
        sizes = parse_sizes(training.pop("train_sizes", ""))
    except ConfigError as err:
        grid.errors.append(str(err))
        sizes = []
    fields, errors = clean_training(training)
    grid.errors += errors
    n_runs = len(methods) * n_seeds * max(1, len(sizes))
    if n_runs > MAX_RUNS_PER_LAUNCH:
        grid.errors.append(t("grid_too_many", n=n_runs, limit=MAX_RUNS_PER_LAUNCH))
    if grid.errors or not model or not dataset:
        return grid
    # Model, dataset and training fields first, once, so a bad shared field is one message rather
    # than one per method: with LoRA at its defaults, which takes every task, a quantized base and
    # gradient checkpointing (what only some methods refuse is said per method, below).
    try:
        RunConfig(model=model, dataset=dataset, method=SHARED_CHECK_METHOD, seed=start, **fields)
    except FtlabError as err:
        grid.errors.append(err.render(page_label))
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
            grid.errors.append(f"{method}: {err.render(page_label)}")
            continue
        for size in sizes or [fields.get("max_train")]:
            sized = base.replace(max_train=size, balanced_train=size is not None) if sizes else base
            grid.configs += [sized] + [sized.replace(seed=s) for s in range(start + 1, start + n_seeds)]
    if grid.errors:
        grid.configs = []
    return grid


def errors_markdown(errors: list[str], title: str | None = None) -> str:
    return f"**{title or t('nothing_queued_fix')}**\n\n" + "\n".join(f"- {md_escape(e)}" for e in errors)


def options_table(rows: list[dict]) -> str:
    """A method's options (from ftlab.methods.option_help) as a Markdown table."""
    if not rows:
        return t("opts_table_none")
    lines = [t("opts_table_header"), "|---|---|---|---|"]
    for r in rows:
        default = json.dumps(r["default"]) if not isinstance(r["default"], str) else r["default"]
        described = t(f"opt_{r['method']}_{r['name']}", r["help"]) if r.get("method") else r["help"]
        lines.append(f"| `{r['name']}` | {md_escape(r['type'])} | `{default}` | {md_escape(described)} |")
    return "\n".join(lines)


def submit_grid(grid: "Grid", submit) -> tuple[list[str] | None, str | None]:
    """What the Queue button does with a read form: (job ids, None) when `submit(configs)` (the
    service's submit, with the visitor and the baselines) queued them, else (None, the one-line
    refusal as the page shows it: every form error, or what the service refused, fields named by
    their place on the page). Anything but a refusal (a bug) propagates."""
    from ftlab.ui.logic.format import status_markdown

    if not grid.ok:
        return None, errors_markdown(grid.errors or [t("grid_no_methods")])
    try:
        return submit(grid.configs), None
    except FtlabError as err:
        return None, status_markdown(t("nothing_queued") + one_line(err, page_label), ok=False)
