"""Tokenized splits cached on disk, keyed by the data's fingerprint and the tokenizer.

A grid of methods on one dataset tokenizes it once: the whole tweets-sentiment dataset takes
3.2 s on 2 CPU cores, zh-ner 7.5 s, on the critical path before every job's first step; a cached
split loads in milliseconds. The key covers everything the result depends on: the split's
content fingerprint (`ftlab.data.content_fingerprint`: its texts, labels and label names), the
task, the tokenizer's full definition and max_length, so a stale entry cannot be hit, and runs
that cap the train split differently still share their validation and test entries.

FTLAB_CACHE (default ~/.cache/ftlab) holds tokens/<key>.npz; FTLAB_CACHE=off turns it off. Files
are plain arrays (no pickle). A cache that cannot be written is skipped silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from pathlib import Path
from typing import Optional

import numpy as np

from ftlab import cache
from ftlab.train.batching import Encoded, encode

CACHE_VERSION = 5  # bump when encode() changes what it produces


def cache_dir() -> Optional[Path]:
    base = cache.root()
    return None if base is None else base / "tokens"


_IDENTITIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def tokenizer_identity(tokenizer) -> str:
    """A hash of the tokenizer's whole definition (vocabulary, normalizer, special tokens), without
    the truncation and padding state a fast tokenizer keeps from its last call. Remembered per
    tokenizer object (~65 ms for MiniLM's) until its size changes (added tokens)."""
    try:
        size, identity = _IDENTITIES[tokenizer]
        if size == len(tokenizer):
            return identity
    except (KeyError, TypeError):
        pass
    identity = _identity(tokenizer)
    try:
        _IDENTITIES[tokenizer] = (len(tokenizer), identity)
    except TypeError:
        pass
    return identity


def _identity(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        definition.pop("truncation", None)
        definition.pop("padding", None)
    else:
        definition = sorted(tokenizer.get_vocab().items())
    text = json.dumps([definition, type(tokenizer).__name__, str(tokenizer.special_tokens_map),
                       tokenizer.padding_side, tokenizer.truncation_side], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _key(fingerprint: str, task: str, tokenizer, max_length: int) -> str:
    # the chat template writes a generative task's prompts: another template, another encoding
    template = getattr(tokenizer, "chat_template", None)
    parts = [CACHE_VERSION, fingerprint, task, tokenizer_identity(tokenizer), int(max_length),
             template if isinstance(template, (str, type(None))) else json.dumps(template, sort_keys=True)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def _ragged(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    flat = np.fromiter((v for r in rows for v in r), dtype=np.int32, count=int(offsets[-1]))  # ids, -100, word ids
    return flat, offsets


def _unragged(flat: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    values = flat.tolist()
    bounds = offsets.tolist()
    return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _save(path: Path, enc: Encoded, task: str) -> None:
    ids, offsets = _ragged(enc.input_ids)
    arrays = {"input_ids": ids, "offsets": offsets}
    if enc.labels and isinstance(enc.labels[0], list):  # a label per token (NER, generation)
        arrays["labels"] = _ragged(enc.labels)[0]
        arrays["token_labels"] = np.ones(1, dtype=np.int8)
    else:
        arrays["labels"] = np.asarray(enc.labels, dtype=np.int32)
    if enc.prompt_ids is not None:
        arrays["prompt_ids"], arrays["prompt_offsets"] = _ragged(enc.prompt_ids)
    for name in ("prompts", "references"):  # text: numpy's fixed-width unicode, no pickle
        if getattr(enc, name) is not None:
            arrays[name] = np.asarray(getattr(enc, name), dtype=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # readers never see a half-written file


def _load(path: Path, task: str) -> Encoded:
    with np.load(path, allow_pickle=False) as z:
        offsets = z["offsets"]
        input_ids = _unragged(z["input_ids"], offsets)
        labels = _unragged(z["labels"], offsets) if "token_labels" in z.files else z["labels"].tolist()
        texts = {name: z[name].tolist() if name in z.files else None for name in ("prompts", "references")}
        prompt_ids = _unragged(z["prompt_ids"], z["prompt_offsets"]) if "prompt_ids" in z.files else None
        return Encoded(input_ids, labels, prompt_ids=prompt_ids, **texts)


def encode_cached(split, task: str, label_names: list[str], tokenizer, max_length: int) -> Encoded:
    """`encode(split, ...)`, from the cache when this exact tokenization was done before."""
    from ftlab.data import content_fingerprint

    root = cache_dir()
    if root is None:
        return encode(split, task, tokenizer, max_length)
    fingerprint = content_fingerprint(task, list(label_names), [split])
    path = root / f"{_key(fingerprint, task, tokenizer, max_length)}.npz"
    if path.is_file():
        try:
            return _load(path, task)
        except (OSError, ValueError, KeyError):
            pass  # damaged: tokenize again and overwrite it
    enc = encode(split, task, tokenizer, max_length)
    try:
        _save(path, enc, task)
    except OSError:
        pass  # read-only or full disk: work uncached
    return enc
