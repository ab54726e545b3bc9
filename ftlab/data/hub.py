"""Hugging Face Hub datasets through the real `datasets.load_dataset`.

Offline, `datasets` retries for ~23 s before failing; a 2-3 s TCP probe decides first, and an
unreachable Hub means "use the local cache or fail at once with a clear message".
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from urllib.parse import urlparse

from ftlab.errors import DataError

from .common import Loaded, builtin_hint, label_str, sort_label_names

# Canonical datasets whose config follows a slash in ftlab specs ("glue/sst2" means
# load_dataset("glue", "sst2")); any other "a/b" is an owner/name repo id. "name:config"
# works for every dataset.
CONFIG_DATASETS = {"glue", "super_glue", "tweet_eval", "wikiann", "xtreme", "xnli", "paws-x", "amazon_reviews_multi"}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?(:[\w.-]+)?")
NER_WORDS = ("conll", "ner", "wikiann", "wnut")
_TRUE = {"1", "true", "yes", "on"}


def is_hub_id(spec: str) -> bool:
    return bool(HUB_ID.fullmatch(spec))


def hub_task(spec: str) -> str:
    """Guess the task from the name alone, so infer_task never downloads anything."""
    return "ner" if any(w in spec.lower() for w in NER_WORDS) else "classification"


def parse_spec(spec: str) -> tuple[str, str | None]:
    if ":" in spec:
        path, config = spec.split(":", 1)
        return path, config
    head, _, tail = spec.partition("/")
    if tail and head.lower() in CONFIG_DATASETS:
        return head, tail
    return spec, None


def offline_reason(timeout: float = 2.5) -> str | None:
    """Why the Hub cannot be used now, or None when it answers."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var} is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # behind a proxy a direct TCP probe proves nothing; let datasets try
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    ok = []

    def probe():
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)

    # A thread bounds the DNS lookup too, which socket timeouts do not cover.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return None if ok else f"no connection to {host}:{port}"


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


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else type(err).__name__


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
            f"could not load {spec!r} from the Hugging Face Hub: {_first_line(e)}. "
            "Check the name on huggingface.co/datasets (a config goes after a colon, e.g. glue:sst2)."
        )
    return from_dataset_dict(dd, spec, task, text_column=text_column, label_column=label_column)


def _column(columns, given, defaults, kind, spec):
    if given is not None:
        if given not in columns:
            raise DataError(f"column {given!r} not found in {spec}; available columns: {', '.join(columns)}. Pass --{kind}-column.")
        return given
    for d in defaults:
        if d in columns:
            return d
    raise DataError(f"no {kind} column in {spec} (looked for {', '.join(defaults)}); available columns: {', '.join(columns)}. Pass --{kind}-column.")


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
    features = found["train"].features
    columns = list(features)
    if task == "ner":
        tcol = _column(columns, text_column, ("tokens", "words"), "text", spec)
        lcol = _column(columns, label_column, ("ner_tags", "tags", "labels"), "label", spec)
        inner = getattr(features[lcol], "feature", None)
        names = list(inner.names) if isinstance(inner, ClassLabel) else None
    else:
        tcol = _column(columns, text_column, ("text", "sentence", "content", "review"), "text", spec)
        lcol = _column(columns, label_column, ("label", "labels"), "label", spec)
        names = list(features[lcol].names) if isinstance(features[lcol], ClassLabel) else None

    raw = {s: (ds[tcol], ds[lcol]) for s, ds in found.items()}
    if "test" in raw:
        flat = raw["test"][1] if task != "ner" else [t for seq in raw["test"][1] for t in seq]
        if all(x == -1 or x is None for x in flat):
            del raw["test"]

    if names is None:  # plain values: name them like a local file does
        values = [label_str(x) for _, labs in raw.values() for x in (labs if task != "ner" else [t for s in labs for t in s])]
        names = sort_label_names(v for v in values if v not in ("", "-1"))
        if task == "ner":
            if not all(n == "O" or n[:2] in ("B-", "I-") for n in names):
                raise DataError(f"the tags in column {lcol!r} of {spec} are not named BIO tags; pass --label-column with BIO tags.")
            names = ["O"] + [n for n in names if n != "O"]
        lookup = {n: i for i, n in enumerate(names)}
        to_id = lambda x: lookup.get(label_str(x), -1)  # noqa: E731
    else:
        to_id = lambda x: -1 if x is None else int(x)  # noqa: E731
        if task == "ner" and "O" in names and names[0] != "O":
            # Keep the dataset's ids but move "O" to id 0, as the rest of ftlab expects.
            order = ["O"] + [n for n in names if n != "O"]
            remap = {i: order.index(n) for i, n in enumerate(names)}
            names, to_id = order, (lambda x: -1 if x is None or x < 0 else remap[int(x)])  # noqa: E731

    splits = {}
    for s, (texts, labels) in raw.items():
        if task == "ner":
            pairs = [(list(t), [to_id(x) for x in ls]) for t, ls in zip(texts, labels) if t]
        else:
            pairs = [(t.strip(), to_id(x)) for t, x in zip(texts, labels) if isinstance(t, str) and t.strip()]
            pairs = [(t, x) for t, x in pairs if x >= 0]
        splits[s] = ([p[0] for p in pairs], [p[1] for p in pairs])
    return Loaded(task, names, splits, f"Hub: {spec}")
