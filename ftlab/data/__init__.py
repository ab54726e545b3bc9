"""Dataset registry: built-in offline sets, local files and Hub datasets, all as one TaskData.

    data = load_dataset("tweets-sentiment", max_train=2000)
    data.train.texts[0], data.label_names[data.train.labels[0]]

A spec is a built-in name, a local file (.csv .tsv .jsonl .json for classification; .conll
.bio .iob .txt for CoNLL NER) or a Hub dataset ("imdb", "glue/sst2", "owner/name"). Every
problem a user can fix is a one-line `DataError`.

May import: pandas, datasets, charset-normalizer, ftlab.errors, ftlab.cache, ftlab.hub; torch and transformers
only inside functions that need a tokenizer (the dataset card). Never ftlab.config or anything above.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from ftlab.errors import ConfigError, DataError

from . import builtin, files, hub, instructions
from .card import dataset_card
from .builtin import BUILTIN_HINT, BUILTIN_NAMES, builtin_hint
from .common import Loaded, Split
from ftlab.tasks import get_task

from .builtin import general_text

__all__ = ["general_text", "Split", "TaskData", "DatasetInfo", "list_datasets", "infer_task", "load_dataset", "dataset_card"]


@dataclass
class TaskData:
    name: str  # the spec the user gave
    task: str  # "classification" or "ner"
    label_names: list  # id -> name; for ner the BIO tags with "O" first
    train: Split
    validation: Split
    test: Split
    fingerprint: str  # sha256 of label names + every split's content
    source: str  # where it came from, for people
    skipped: dict = field(default_factory=dict)  # rows of the source left out, by reason (Loaded.skipped)
    generation: dict = field(default_factory=dict)  # generative sets: how answers are read (Loaded.generation)


@dataclass
class DatasetInfo:
    name: str
    task: str
    description: str


def list_datasets() -> list[DatasetInfo]:
    return [DatasetInfo(n, *builtin.DESCRIPTIONS[n]) for n in BUILTIN_NAMES]


def _resolve(spec: str) -> tuple[str, object]:
    """("builtin", name) | ("table" | "conll", Path) | ("hub", spec); raises DataError otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise DataError(f"no dataset given. {BUILTIN_HINT}")
    spec = spec.strip()
    if spec in builtin.LOADERS:
        return "builtin", spec
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    looks_like_path = (
        suffix in files.TABLE_SUFFIXES + files.CONLL_SUFFIXES
        or spec.startswith(("/", "./", "../", "~", "."))
        or "\\" in spec
    )
    if path.exists() or looks_like_path:
        if not path.exists():
            raise DataError(f"file not found: {path.resolve()}; check the path. {BUILTIN_HINT}")
        if path.is_dir():
            raise DataError(f"{spec} is a folder; pass one data file (.csv, .tsv, .jsonl, .json or CoNLL .conll/.bio/.iob/.txt).")
        if suffix in files.TABLE_SUFFIXES:
            return "table", path
        if suffix in files.CONLL_SUFFIXES:
            return "conll", path
        raise DataError(f"unsupported file type {suffix or '(none)'!r} for {path.name}; use .csv, .tsv, .jsonl, .json or CoNLL .conll/.bio/.iob/.txt.")
    if hub.is_hub_id(spec):
        return "hub", spec
    raise DataError(f"unknown dataset {spec!r}: not a built-in, a file or a Hub id. {builtin_hint(spec)}")


def infer_task(spec: str) -> str:
    """The task a spec trains, without loading it: "classification" or "ner"."""
    kind, what = _resolve(spec)
    if kind == "builtin":
        return builtin.DESCRIPTIONS[what][0]
    if kind == "table":
        return "sft" if instructions.looks_instructional(files.table_columns(what)) else "classification"
    if kind == "conll":
        return "ner"
    return hub.hub_task(what)


def _check_cap(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise DataError(f"{name} must be a positive whole number, got {value!r}; leave it out to use every example.")


def _pick(pair, idx, nested):
    texts, labels = pair
    if nested:  # copy inner lists so a caller editing one never edits the cached built-in
        return Split([list(texts[i]) for i in idx], [list(labels[i]) for i in idx])
    return Split([texts[i] for i in idx], [labels[i] for i in idx])


def _split(loaded: Loaded, seed: int) -> tuple[Split, Split, Split]:
    """Deterministic train/validation/test from whatever splits the source has.

    Every split is shuffled with random.Random(seed), so max_train/max_eval (first N) take an
    unbiased sample even from sources sorted by label (the Hub's imdb is).
    """
    nested = get_task(loaded.task).per_token
    parts = dict(loaded.splits)
    if "all" in parts or ("validation" not in parts and "test" not in parts):
        texts, labels = parts.pop("all", None) or parts.pop("train")
        n = len(texts)
        if n < 3:
            raise DataError(f"only {n} usable example(s); ftlab needs at least 3 (train, validation and test get one each).")
        order = list(range(n))
        random.Random(seed).shuffle(order)
        k = max(1, n // 10)  # 80/10/10
        train, validation, test = order[2 * k :], order[:k], order[k : 2 * k]
        return tuple(_pick((texts, labels), idx, nested) for idx in (train, validation, test))

    rng = random.Random(seed)

    def shuffled(pair):
        order = list(range(len(pair[0])))
        rng.shuffle(order)
        return order

    train_pair = parts["train"]
    train_idx = shuffled(train_pair)
    if "test" not in parts:  # e.g. GLUE: unlabelled test -> validation becomes the test set
        parts["test"] = parts.pop("validation")
    if "validation" in parts:
        val = _pick(parts["validation"], shuffled(parts["validation"]), nested)
    else:  # carve 10% of train as validation
        k = max(1, len(train_idx) // 10)
        val, train_idx = _pick(train_pair, train_idx[:k], nested), train_idx[k:]
    test = _pick(parts["test"], shuffled(parts["test"]), nested)
    return _pick(train_pair, train_idx, nested), val, test


def balanced_first(labels: list, n: int) -> list[int]:
    """Indices of n examples taken class by class from a shuffled split: each class gets n / K
    (the first ones in split order); a class with fewer gives all it has and the rest go to the
    others in turn. Kept in split order, so a larger n's set contains a smaller one's."""
    by_class: dict = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    classes = sorted(by_class)
    take = dict.fromkeys(classes, 0)
    left = min(n, len(labels))
    while left > 0:
        open_classes = [c for c in classes if take[c] < len(by_class[c])]
        share = max(1, left // len(open_classes))
        for c in open_classes:
            extra = min(share, len(by_class[c]) - take[c], left)
            take[c] += extra
            left -= extra
            if left == 0:
                break
    return sorted(i for c in classes for i in by_class[c][: take[c]])


def content_fingerprint(task, label_names, splits) -> str:
    """sha256 of a canonical byte encoding: identical content gives the same hex on any machine.

    NER sets are hashed as joined tokens and tag-id bytes rather than JSON: 0.1 s instead of
    0.5 s for zh-ner's 1.1M characters.
    """
    h = hashlib.sha256()
    h.update(json.dumps({"task": task, "label_names": label_names}, ensure_ascii=False).encode())
    for s in splits:
        h.update(b"\x00split\x00")
        if get_task(task).per_token and len(label_names) < 255:
            h.update("\x1e".join("\x1f".join(tokens) for tokens in s.texts).encode())
            h.update(b"\xff".join(bytes(tags) for tags in s.labels))
        else:
            h.update(json.dumps([s.texts, s.labels], ensure_ascii=False, separators=(",", ":")).encode())
    return h.hexdigest()


def require_task(data: "TaskData", spec: str, task: str | None) -> None:
    """A run's task must be its dataset's (the engine and the submit-time check both ask)."""
    if task and data.task != task:
        raise ConfigError(f"task: dataset {spec!r} is a {data.task} dataset, not {task}")


def load_dataset(
    spec: str,
    *,
    split_seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str | None = None,
    max_train: int | None = None,
    max_eval: int | None = None,
    balanced: bool = False,
    task: str | None = None,
) -> TaskData:
    """Load a built-in, a local file or a Hub dataset as train/validation/test splits.

    Sources without splits get a seeded 80/10/10 split; `max_train` keeps the first N of the
    shuffled train split (with `balanced`, N taken class by class: see `balanced_first`), `max_eval`
    caps validation and test each. `task`: how to read a table that could be either (prompt/answer
    columns are read for generation unless `task` is classification).
    """
    _check_cap("max_train", max_train)
    _check_cap("max_eval", max_eval)
    kind, what = _resolve(spec)
    if kind == "builtin":
        loaded = builtin.LOADERS[what]()
    elif kind == "table":
        loaded = files.read_table(what, text_column=text_column, label_column=label_column, encoding=encoding,
                                  task=task)
    elif kind == "conll":
        loaded = files.read_conll(what, encoding=encoding)
    else:
        loaded = hub.load_hub(what, task or hub.hub_task(what), text_column=text_column, label_column=label_column)

    train, validation, test = _split(loaded, split_seed)
    if max_train is not None:
        keep = balanced_first(train.labels, max_train) if balanced and get_task(loaded.task).labelled \
            and not get_task(loaded.task).per_token \
            else range(min(max_train, len(train)))
        train = Split([train.texts[i] for i in keep], [train.labels[i] for i in keep])
    if max_eval is not None:
        validation = Split(validation.texts[:max_eval], validation.labels[:max_eval])
        test = Split(test.texts[:max_eval], test.labels[:max_eval])
    for split_name, s in (("train", train), ("validation", validation), ("test", test)):
        if len(s) == 0:
            raise DataError(f"the {split_name} split of {spec} is empty; add more examples.")
    if not get_task(loaded.task).labelled:
        pass  # free-text answers: no classes to count
    elif not get_task(loaded.task).per_token:
        if len(set(train.labels)) < 2:
            only = loaded.label_names[train.labels[0]]
            raise DataError(f"the train split of {spec} has a single class ({only!r}); add examples of other classes or raise max_train.")
    elif not any(t != 0 for seq in train.labels for t in seq):
        raise DataError(f"the train split of {spec} has no entities (every tag is O); add tagged sentences or raise max_train.")
    label_names = list(loaded.label_names)
    return TaskData(
        name=spec,
        task=loaded.task,
        label_names=label_names,
        train=train,
        validation=validation,
        test=test,
        fingerprint=content_fingerprint(loaded.task, label_names, (train, validation, test)),
        source=loaded.source,
        skipped=dict(loaded.skipped),
        generation=dict(loaded.generation),
    )
