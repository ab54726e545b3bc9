"""Tokenize once, then batch with little padding.

Real text is much shorter than max_length (tweets: median ~111 characters, ~30 tokens), so
padding every input to 128 spends most of the compute on pad tokens. Here each batch is padded
only to its own longest member (on a GPU rounded up to a multiple of 8 for tensor cores), and training
batches are drawn from length-sorted pools so members of a batch have similar lengths, while
the pools and the batch order stay random (seeded).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ftlab.data.words import tokenize_words

IGNORE = -100  # label of positions that do not count in the loss (special tokens, sub-words)


@dataclass
class Encoded:
    input_ids: list[list[int]]
    labels: list  # classification: list[int]; ner: list[list[int]] aligned to input_ids

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]


def encode(split, task: str, tokenizer, max_length: int) -> Encoded:
    """Tokenize a data split. NER labels go on each word's first sub-token; the rest are ignored."""
    if task == "classification":
        enc = tokenizer(list(split.texts), truncation=True, max_length=max_length)
        return Encoded(enc["input_ids"], list(split.labels))
    input_ids, word_ids = tokenize_words(tokenizer, split.texts, max_length)
    labels = []
    for words, tags in zip(word_ids, split.labels):
        row, prev = [], None
        for w in words:
            row.append(IGNORE if w is None or w == prev else tags[w])
            prev = w
        labels.append(row)
    return Encoded(input_ids, labels)


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random, pool_batches: int = 64) -> list[list[int]]:
    """Shuffle, cut into pools of `pool_batches` batches, sort each pool by length, batch, shuffle batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lengths.__getitem__)
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation order: by length, so each batch pads little; results are put back in order."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad_multiple(device_type: str) -> int:
    """Batch widths round up to 8 on a GPU (tensor-core tiles); on a CPU rounding buys nothing and
    costs ~3.5 pad tokens a row (10% of a tweet's ~30 tokens)."""
    return 8 if device_type == "cuda" else 1


def collate(data: Encoded, idx: list[int], pad_id: int, task: str, multiple: int = 8) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member (rounded up to `multiple`)."""
    seqs = [data.input_ids[i] for i in idx]
    width = max(len(s) for s in seqs)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
    if task == "classification":
        labels = torch.tensor([data.labels[i] for i in idx], dtype=torch.long)
    else:
        labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
        for r, i in enumerate(idx):
            labels[r, :len(data.labels[i])] = torch.tensor(data.labels[i])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
