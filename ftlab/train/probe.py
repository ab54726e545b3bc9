"""A few real training and evaluation steps, timed: the first guess of a run's speed on this
machine, before any run of the model has finished.

A fixed table of rates was 3x off on the machine class it was written for (it said 9 min for a
grid that took 3 min 16 s), and means nothing on another. A probe costs a few seconds and
measures this model, this method, this batch size and this hardware. The estimate it feeds is
still a guess: the first steps of a run are slower than its average, and jobs running beside
the probe slow it down.
"""

from __future__ import annotations

import time

import torch

from ftlab.config import RunConfig
from ftlab.data import Split
from ftlab.train.batching import collate, encode, pad_multiple
from ftlab.train.engine import autocast_context, make_optimizer, resolve_device, to_device

WARMUP_STEPS = 2  # the first steps allocate optimizer state and warm caches: not timed


def probe_rates(model, tokenizer, config: RunConfig, split: Split, steps: int = 5) -> dict:
    """Train `model` (the method already applied) for `steps` timed optimizer steps on the first
    examples of `split`, then time as many evaluation batches (the engine's evaluation batch size).
    Returns train_samples_per_s and eval_samples_per_s. The model is trained in place: pass a
    throwaway copy."""
    device = resolve_device(config.device)
    eval_size = config.eval_batch_size or 2 * config.batch_size
    n = min(len(split), max(config.batch_size, eval_size))
    if n == 0:
        return {"train_samples_per_s": None, "eval_samples_per_s": None}
    encoded = encode(Split(split.texts[:n], split.labels[:n]), config.task, tokenizer, config.max_length)

    def batch_of(size: int) -> dict:
        idx = list(range(min(size, n)))
        return to_device(collate(encoded, idx, tokenizer.pad_token_id, config.task, pad_multiple(device.type)), device)

    batch, eval_batch = batch_of(config.batch_size), batch_of(eval_size)
    model = model.to(device).train()
    optimizer = make_optimizer(model, config.effective_lr, config.weight_decay, device)
    autocast = autocast_context(config.precision, device)

    def step():
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def timed(fn, repeats: int) -> float:
        for _ in range(WARMUP_STEPS):
            fn()
        t0 = time.perf_counter()
        for _ in range(repeats):
            out = fn()
        float(out.detach().float().sum())  # wait for the device
        return time.perf_counter() - t0

    train_s = timed(step, steps)
    model.eval()
    with torch.inference_mode():
        eval_s = timed(lambda: model(**eval_batch).logits, steps)
    return {"train_samples_per_s": steps * len(batch["input_ids"]) / train_s,
            "eval_samples_per_s": steps * len(eval_batch["input_ids"]) / eval_s}
