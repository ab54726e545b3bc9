"""Hugging Face Hub datasets through the real `datasets.load_dataset`.

Offline, `datasets` retries for ~23 s before failing; a 2-3 s TCP probe decides first, and an
unreachable Hub means "use the local cache or fail at once with a clear message".
"""

from __future__ import annotations

import contextlib
import re

from ftlab.errors import DataError, field
from ftlab.hub import offline_reason

from .builtin import builtin_hint
from .common import Loaded, first_line, label_str, pick_column, sort_label_names
from .instructions import to_pairs
from ftlab.tasks import get_task

# Canonical datasets whose config follows a slash in ftlab specs ("glue/sst2" means
# load_dataset("glue", "sst2")); any other "a/b" is an owner/name repo id. "name:config"
# works for every dataset.
CONFIG_DATASETS = {"glue", "super_glue", "tweet_eval", "wikiann", "xtreme", "xnli", "paws-x", "amazon_reviews_multi"}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?(:[\w.-]+)?")
NER_WORDS = ("conll", "ner", "wikiann", "wnut")
# Prompt/answer sets by name (openai/gsm8k, meta-math/MetaMathQA, tatsu-lab/alpaca, ShareGPT and
# chat collections); any other is read for generation when its run says task: sft.
GENERATIVE_WORDS = ("gsm8k", "metamath", "alpaca", "sharegpt", "ultrachat", "dolly", "instruct", "orca", "oasst")


def is_hub_id(spec: str) -> bool:
    return bool(HUB_ID.fullmatch(spec))


def hub_task(spec: str) -> str:
    """Guess the task from the name alone, so infer_task never downloads anything."""
    name = spec.lower()
    if any(w in name for w in GENERATIVE_WORDS):
        return "sft"
    return "ner" if any(w in name for w in NER_WORDS) else "classification"


def parse_spec(spec: str) -> tuple[str, str | None]:
    if ":" in spec:
        path, config = spec.split(":", 1)
        return path, config
    head, _, tail = spec.partition("/")
    if tail and head.lower() in CONFIG_DATASETS:
        return head, tail
    return spec, None


@contextlib.contextmanager
def _offline_mode():
    """datasets and huggingface_hub read HF_HUB_OFFLINE at import; flip their module flags instead."""
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


def load_hub(spec: str, task: str, *, text_column=None, label_column=None) -> Loaded:
    import datasets

    path, config = parse_spec(spec)
    reason = offline_reason()
    try:
        if reason is None:
            dd = datasets.load_dataset(path, config)
        else:
            with _offline_mode():
                dd = datasets.load_dataset(path, config)
    except Exception as e:  # datasets raises many types; the user needs one line either way
        if reason is not None:
            raise DataError(
                f"dataset {spec!r} is not in the local Hugging Face cache and the Hub is unreachable ({reason}). {builtin_hint(spec)}"
            )
        raise DataError(
            f"could not load {spec!r} from the Hugging Face Hub: {first_line(e, 200)}. "
            "Check the name on huggingface.co/datasets (a config goes after a colon, e.g. glue:sst2)."
        )
    return from_dataset_dict(dd, spec, task, text_column=text_column, label_column=label_column)


SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "dev", "val"), "test": ("test",)}


def from_dataset_dict(dd, spec: str, task: str, *, text_column=None, label_column=None) -> Loaded:
    """A `datasets.DatasetDict` -> Loaded, keeping its own train/validation/test splits.

    Unlabelled test splits (GLUE's test labels are all -1) are dropped: load_dataset then uses
    validation as test and carves a new validation from train.
    """
    from datasets import ClassLabel

    found = {}
    for ours, aliases in SPLIT_ALIASES.items():
        for a in aliases:
            if a in dd:
                found[ours] = dd[a]
                break
    if "train" not in found:
        raise DataError(f"{spec} has no train split (it has: {', '.join(dd)}); ftlab needs one to fine-tune on.")
    if not get_task(task).labelled:  # prompt/answer data in any of its shapes (ftlab.data.instructions)
        splits, skipped = {}, {}
        for name, ds in found.items():
            prompts, answers, dropped = to_pairs(ds.to_list(), f"{spec} ({name})", prompt_column=text_column,
                                                 answer_column=label_column)
            splits[name] = (prompts, answers)
            for reason, n in dropped.items():
                skipped[reason] = skipped.get(reason, 0) + n
        return Loaded(task, [], splits, f"Hub: {spec}", {k: n for k, n in skipped.items() if n})
    features = found["train"].features
    columns = list(features)
    if get_task(task).per_token:
        tcol = pick_column(columns, text_column, ("tokens", "words"), "text", spec)
        lcol = pick_column(columns, label_column, ("ner_tags", "tags", "labels"), "label", spec)
        inner = getattr(features[lcol], "feature", None)
        names = list(inner.names) if isinstance(inner, ClassLabel) else None
    else:
        tcol = pick_column(columns, text_column, ("text", "sentence", "content", "review"), "text", spec)
        lcol = pick_column(columns, label_column, ("label", "labels"), "label", spec)
        names = list(features[lcol].names) if isinstance(features[lcol], ClassLabel) else None

    raw = {s: (ds[tcol], ds[lcol]) for s, ds in found.items()}
    if "test" in raw:
        flat = raw["test"][1] if not get_task(task).per_token else [t for seq in raw["test"][1] for t in seq]
        if all(x == -1 or x is None for x in flat):
            del raw["test"]

    if names is None:  # plain values: name them like a local file does
        values = [label_str(x) for _, labs in raw.values() for x in (labs if not get_task(task).per_token else [t for s in labs for t in s])]
        names = sort_label_names(v for v in values if v not in ("", "-1"))
        if get_task(task).per_token:
            if not all(n == "O" or n[:2] in ("B-", "I-") for n in names):
                raise DataError(f"the tags in column {lcol!r} of {spec} are not named BIO tags; set {field('label_column')} to a column of BIO tags.")
            names = ["O"] + [n for n in names if n != "O"]
        lookup = {n: i for i, n in enumerate(names)}
        to_id = lambda x: lookup.get(label_str(x), -1)  # noqa: E731
    else:
        to_id = lambda x: -1 if x is None else int(x)  # noqa: E731
        if get_task(task).per_token and "O" in names and names[0] != "O":
            # Keep the dataset's ids but move "O" to id 0, as the rest of ftlab expects.
            order = ["O"] + [n for n in names if n != "O"]
            remap = {i: order.index(n) for i, n in enumerate(names)}
            names, to_id = order, (lambda x: -1 if x is None or x < 0 else remap[int(x)])  # noqa: E731

    splits = {}
    for s, (texts, labels) in raw.items():
        if get_task(task).per_token:
            pairs = [(list(t), [to_id(x) for x in ls]) for t, ls in zip(texts, labels) if t]
        else:
            pairs = [(t.strip(), to_id(x)) for t, x in zip(texts, labels) if isinstance(t, str) and t.strip()]
            pairs = [(t, x) for t, x in pairs if x >= 0]
        splits[s] = ([p[0] for p in pairs], [p[1] for p in pairs])
    return Loaded(task, names, splits, f"Hub: {spec}")
