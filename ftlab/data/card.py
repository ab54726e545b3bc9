"""A dataset card: the numbers to look at before training (sizes, balance, lengths, tokenizer fit)."""

from __future__ import annotations

import random
from collections import Counter

from .common import Split
from .words import tokenize_words
from ftlab.tasks import get_task

RARE_CLASS = 5  # a class with fewer training examples than this cannot be learned: the card warns
TOKENIZER_SAMPLE = 2000  # tokenizer stats on at most this many train examples: ~1 s, stable to ~1%


def _percentiles(values) -> dict:
    """Nearest-rank p50/p90/p99/max (ints, so the card prints cleanly)."""
    v = sorted(values)
    if not v:
        return {"p50": 0, "p90": 0, "p99": 0, "max": 0}
    at = lambda q: v[min(len(v) - 1, max(0, int(round(q * len(v))) - 1))]  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": v[-1]}


def _label_counts(data) -> list:
    if not get_task(data.task).labelled:
        return []  # free-text answers: no classes
    if get_task(data.task).per_token:
        # One entity per B- tag (all readers emit IOB2), counted per type.
        counts = Counter(data.label_names[t][2:] for seq in data.train.labels for t in seq if data.label_names[t].startswith("B-"))
        names = sorted(counts)
    else:
        counts = Counter(data.label_names[i] for i in data.train.labels)
        names = data.label_names
    total = sum(counts.values()) or 1
    return [{"label": n, "count": counts[n], "share": round(counts[n] / total, 4)} for n in names]


def entities_cut(tag_rows, label_names, kept_words) -> tuple[int, int]:
    """(entities truncation cuts, entities in all) for NER rows of tag ids, where the i-th
    sentence keeps its first kept_words[i] words after truncation. An entity is cut when any of
    its words is lost: the model never sees it whole, and the test counts it as missed."""
    from seqeval.metrics.sequence_labeling import get_entities

    cut = total = 0
    for tags, kept in zip(tag_rows, kept_words):
        for _, _, last in get_entities([label_names[t] for t in tags]):
            total += 1
            cut += last >= kept
    return cut, total


def _kept_words(word_ids: list, budget: int) -> list[int]:
    """Words whose first sub-token falls within `budget` tokens, per sentence of an encoding made
    without special tokens and without truncation."""
    kept = []
    for row in word_ids:
        firsts = {}
        for pos, w in enumerate(row):
            if w is not None:
                firsts.setdefault(w, pos)
        kept.append(sum(pos < budget for pos in firsts.values()))
    return kept


def _tokenizer_stats(data, tokenizer, max_length: int) -> dict:
    texts = data.train.texts
    idx = sorted(random.Random(0).sample(range(len(texts)), min(TOKENIZER_SAMPLE, len(texts))))
    sample = [texts[i] for i in idx]
    is_ner = get_task(data.task).per_token
    # No special tokens here: [CLS]/[SEP] are never [UNK] and would dilute unk_rate; they are
    # added back for lengths, since those decide truncation.
    if is_ner:
        input_ids, word_ids = tokenize_words(tokenizer, sample, add_special_tokens=False)
    else:
        input_ids = tokenizer(sample, add_special_tokens=False, truncation=False)["input_ids"]
    special = tokenizer.num_special_tokens_to_add(pair=False)
    lengths = [len(ids) + special for ids in input_ids]
    unk = tokenizer.unk_token_id
    produced = sum(len(ids) for ids in input_ids)
    unk_count = sum(ids.count(unk) for ids in input_ids) if unk is not None else 0
    cut = {}
    if is_ner:
        tags = [data.train.labels[i] for i in idx]
        cut["entities_cut"], cut["entities_sampled"] = entities_cut(
            tags, data.label_names, _kept_words(word_ids, max_length - special))
    return {
        **cut,
        "sampled": len(sample),
        "tokens": _percentiles(lengths),
        "unk_rate": round(unk_count / produced, 4) if unk is not None and produced else None,
        "truncation_rate": round(sum(n > max_length for n in lengths) / max(1, len(lengths)), 4),
        "max_length": max_length,
    }


CARD_EXAMPLES = 3  # generative sets: examples shown as the model reads them


def _prompt_text(messages) -> str:
    return "\n".join(turn["content"] for turn in messages)


def _generation_stats(data, tokenizer, max_length: int) -> dict:
    """Generative sets: prompt and answer tokens in this tokenizer (template applied), how many
    train examples max_length cuts and how many lose their whole answer, and the first examples
    as the model reads them."""
    texts = data.train.texts
    idx = sorted(random.Random(0).sample(range(len(texts)), min(TOKENIZER_SAMPLE, len(texts))))
    enc = get_task(data.task).encode(Split([texts[i] for i in idx], [data.train.labels[i] for i in idx]),
                                     tokenizer, 10 ** 9)
    prompts = [len(p) for p in enc.prompt_ids]
    answers = [len(ids) - len(p) for ids, p in zip(enc.input_ids, enc.prompt_ids)]
    shown = [tokenizer.decode(enc.input_ids[i]) for i in range(min(CARD_EXAMPLES, len(enc)))]
    return {
        "sampled": len(idx),
        "tokens": _percentiles(p + a for p, a in zip(prompts, answers)),
        "prompt_tokens": _percentiles(prompts),
        "answer_tokens": _percentiles(answers),
        "truncation_rate": round(sum(p + a > max_length for p, a in zip(prompts, answers)) / max(1, len(idx)), 4),
        "answers_cut_whole": sum(p >= max_length for p in prompts),
        "unk_rate": None,
        "max_length": max_length,
        "examples": shown,
    }


def dataset_card(data, tokenizer=None, max_length: int = 128) -> dict:
    """Sizes, label balance and lengths of a TaskData; with a tokenizer also tokens, [UNK] share
    and how much max_length would cut. For ner, lengths count tokens (words) per sentence."""
    is_ner = get_task(data.task).per_token
    free_text = not get_task(data.task).labelled
    card = {
        "name": data.name,
        "task": data.task,
        "source": data.source,
        "fingerprint": data.fingerprint,
        "sizes": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        "labels": _label_counts(data),
        "length_chars": _percentiles(len(_prompt_text(t)) if free_text else len(t) for t in data.train.texts),
        "length_unit": "tokens per sentence" if is_ner else "characters",
        "skipped": dict(getattr(data, "skipped", None) or {}),
    }
    if free_text:
        card["answer_chars"] = _percentiles(len(a) for a in data.train.labels)
    elif not is_ner:
        rare = [r["label"] for r in card["labels"] if r["count"] < RARE_CLASS]
        if rare:
            card["rare_classes"] = {"count": len(rare), "of": len(card["labels"]), "below": RARE_CLASS,
                                    "examples": rare[:5]}
    if tokenizer is not None:
        import transformers

        # Lengths beyond the model maximum are the point of the measurement; silence the
        # "sequence length is longer than the specified maximum" warning while measuring.
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()
        try:
            card.update((_generation_stats if free_text else _tokenizer_stats)(data, tokenizer, max_length))
        finally:
            transformers.logging.set_verbosity(verbosity)
    return card
