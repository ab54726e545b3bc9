"""Tasks, one module each, registered by name (like ftlab.methods): everything that differs
between text classification and token classification (NER), and nothing else.

A task says how its labels are shaped (one per text, or one per word), how a split is encoded for
a model and how a batch's labels are padded, which transformers Auto class and peft task type
its models use, how outputs become predictions and predictions become scores (its primary
metric with its title, and the others it stores), how a trained model predicts raw text (the
Playground, the API, exports), what its export's model card says, and the per-task defaults a
run takes (the head's own learning rate for NER).

The engine, data, models, methods, export, tuning, CLI, charts and UI ask `get_task(name)`; no
module outside this package compares a task's name (`tests/test_layers.py` holds that). Adding
a task = one new module here that calls `register_task`, picked up automatically.

Importing this package imports no torch or transformers: the functions import them when they run.
May import: ftlab.errors, ftlab.metrics, ftlab.data.words; never ftlab.config, the engine, the
store, the queue, the service or the UI.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ftlab.errors import ConfigError

IGNORE = -100  # label of positions that do not count in the loss (special tokens, sub-words)


@dataclass
class Encoded:
    """A split as token ids, with labels in the task's shape (`Task.per_token`)."""

    input_ids: list[list[int]]
    labels: list  # one id per text, or one id per token (IGNORE where nothing is scored)
    # Generative tasks: each example's prompt as a person reads it and its reference answer (the
    # scorer compares generations with these; the stored generations show them).
    prompts: Optional[list[str]] = None
    references: Optional[list[str]] = None
    prompt_ids: Optional[list[list[int]]] = None  # what the model reads before it answers, never cut by max_length
    # Packed rows (ftlab.train.batching.pack): the lengths of the examples each row holds, in order
    segments: Optional[list[list[int]]] = None

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    per_token: bool  # a label per word (NER), else one per text
    primary: str  # the metric a run is judged by (Compare, verdicts, tuning)
    primary_title: str  # how a chart names it
    metrics: tuple[str, ...]  # every score a run of this task reports, the primary first
    auto_class: str  # the transformers Auto class of its models
    peft_task_type: str  # peft's TaskType member
    pipeline: str  # the transformers pipeline (and Hub pipeline_tag) of an export
    card_metrics: tuple[tuple[str, str, str], ...]  # (Hub metric type, summary key, name) in a model card
    encode: Callable[..., Encoded]  # (split, tokenizer, max_length) -> Encoded
    batch_labels: Callable[..., Any]  # (labels of a batch, padded width) -> a LongTensor
    score: Callable[..., dict]  # (predictions, encoded labels, label names) -> metrics (+ per_class, ...)
    predict: Callable[..., list]  # (model, tokenizer, texts, max_length, label_names) -> [dict per text]
    # Tasks scored on the logits of one forward pass: (argmax ids of a batch, its label tensor) ->
    # a prediction per example.
    decode: Optional[Callable[..., list]] = None
    # Tasks scored on what the model generates (then `score` takes (generations, Encoded, rule)):
    # (model, tokenizer, Encoded, GenerationSettings, device, autocast, on_progress) -> a text per example.
    generate: Optional[Callable[..., list]] = None
    # Generative tasks: (model, tokenizer, text, max_length) -> the answer as it grows, token by token
    # (the Playground streams it).
    stream: Optional[Callable[..., Any]] = None
    needs_decoder: bool = False  # only a decoder (a causal language model) can run it
    # Generative tasks: (split, [(conversation, answer)]) -> the split with those solved examples
    # before every prompt (few-shot prompting's `prompt_examples`).
    with_examples: Optional[Callable[..., Any]] = None
    # (encoded train split) -> the rows training can learn from (generation: those max_length
    # leaves some of the answer); None: every row
    trainable_rows: Optional[Callable[[Encoded], list]] = None
    labelled: bool = True  # labels are ids into label names (classes, tags); False: free text
    # (data, encoded test split) -> what truncation costs: counts for the summary, and a "note" for the log
    truncation: Optional[Callable[..., dict]] = None
    default_head_lr: Optional[float] = None  # the head's own rate when the run sets none
    # Launch form values that fit this task on 2 CPU cores where the form's defaults do not (a
    # generative evaluation writes every answer: far fewer examples), and the model to offer
    # when the one picked cannot run it
    launch_defaults: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationSettings:
    """How a generative task's evaluation generates and reads answers (ftlab.tasks.answers)."""

    max_new_tokens: int
    rule: str  # ftlab.tasks.answers: number | first_line | normalized | regex:<pattern>
    stop: tuple = ()  # strings that end a generation (cut off with what follows)
    batch_size: int = 16
    keep: Optional[int] = None  # the first N examples' generations are kept (None: all)


def answer_end_id(tokenizer) -> int:
    """The token that ends a generated answer: end of sequence (a chat template's end of turn),
    else the separator or the pad token of tokenizers that have no end of sequence (BERT's)."""
    for value in (tokenizer.eos_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id):
        if value is not None:
            return int(value)
    return 0


def token_labels(labels: list, width: int):
    """A batch's per-token labels as a [batch, width] LongTensor, IGNORE beyond each row."""
    import torch

    out = torch.full((len(labels), width), IGNORE, dtype=torch.long)
    for r, row in enumerate(labels):
        out[r, :len(row)] = torch.tensor(row[:width])
    return out


_TASKS: dict[str, Task] = {}
_LOADED = False


def register_task(task: Task) -> Task:
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} registered twice")
    _TASKS[task.name] = task
    return task


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def get_task(name: str) -> Task:
    _load_all()
    try:
        return _TASKS[name]
    except (KeyError, TypeError):  # TypeError: not a name at all (a list, a dict)
        raise ConfigError(f"unknown task {name!r}; one of {', '.join(sorted(_TASKS))}") from None


def names() -> list[str]:
    _load_all()
    return sorted(_TASKS)


def list_tasks() -> list[Task]:
    return [_TASKS[n] for n in names()]


DEFAULT = "classification"  # the task of a run that names none (inferred from its data otherwise)


def primary_metric(task_names) -> str:
    """The metric a set of runs is compared on: their task's primary one when they share a task,
    else the default task's (accuracy, which every task's runs can be read against)."""
    found = {n for n in task_names if n}
    return get_task(found.pop() if len(found) == 1 else DEFAULT).primary
