"""Tokenize once, then batch with little padding.

Real text is much shorter than max_length (tweets: median ~111 characters, ~30 tokens), so
padding every input to 128 spends most of the compute on pad tokens. Here each batch is padded
only to its own longest member (on a GPU rounded up to a multiple of 8 for tensor cores), and training
batches are drawn from length-sorted pools so members of a batch have similar lengths, while
the pools and the batch order stay random (seeded).
"""

from __future__ import annotations

import random

import torch

from ftlab.tasks import Encoded, get_task



def encode(split, task: str, tokenizer, max_length: int) -> Encoded:
    """Tokenize a data split, labels in the task's shape (ftlab.tasks: NER labels go on each word's
    first sub-token; the rest are ignored)."""
    return get_task(task).encode(split, tokenizer, max_length)


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
    labels = get_task(task).batch_labels([data.labels[i] for i in idx], width)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
