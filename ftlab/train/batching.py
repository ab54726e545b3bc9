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


def pack(data: Encoded, max_length: int) -> Encoded:
    """Several short examples per row, up to max_length tokens (first fit, longest first, so the
    rows fill up): fewer rows and fewer pad tokens. Each row keeps the lengths of its examples
    (`segments`): `collate` gives every example its own positions and lets it attend only to
    itself, so a packed row computes what its examples would alone. Labels are concatenated: the
    last token of one example never learns to predict the next one's first (a prompt token, IGNORE)."""
    order = sorted(range(len(data)), key=lambda i: -len(data.input_ids[i]))
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = len(data.input_ids[i])
        slot = next((r for r, left in enumerate(room) if left >= n), None)
        if slot is None:
            rows.append([i])
            room.append(max_length - n)
        else:
            rows[slot].append(i)
            room[slot] -= n
    return Encoded([[t for i in row for t in data.input_ids[i]] for row in rows],
                   [[t for i in row for t in data.labels[i]] for row in rows],
                   segments=[[len(data.input_ids[i]) for i in row] for row in rows])


def collate(data: Encoded, idx: list[int], pad_id: int, task: str, multiple: int = 8) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member (rounded up to `multiple`). Packed rows (`pack`) get each
    example's own positions and a block-diagonal causal mask ([batch, 1, width, width]), and the
    examples and real tokens they hold (`_examples`, `_tokens`: counts for the throughput, not
    model inputs)."""
    seqs = [data.input_ids[i] for i in idx]
    width = max(len(s) for s in seqs)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
    labels = get_task(task).batch_labels([data.labels[i] for i in idx], width)
    if data.segments is None:
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
    positions = torch.zeros((len(seqs), width), dtype=torch.long)
    segment = torch.full((len(seqs), width), -1, dtype=torch.long)  # -1: padding
    for r, i in enumerate(idx):
        start = 0
        for s, n in enumerate(data.segments[i]):
            positions[r, start:start + n] = torch.arange(n)
            segment[r, start:start + n] = s
            start += n
    causal = torch.tril(torch.ones((width, width), dtype=torch.bool))
    same = (segment[:, :, None] == segment[:, None, :]) & (segment[:, None, :] >= 0)
    blocks = (same & causal) | torch.eye(width, dtype=torch.bool)  # a pad position attends to itself: no empty row
    return {"input_ids": ids, "attention_mask": blocks[:, None], "position_ids": positions, "labels": labels,
            "_examples": torch.tensor(sum(len(data.segments[i]) for i in idx)), "_tokens": mask.sum()}
