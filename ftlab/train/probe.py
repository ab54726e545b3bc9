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
from ftlab.tasks import Encoded, get_task
from ftlab.train.engine import autocast_context, generation_settings, make_optimizer, resolve_device, to_device

WARMUP_STEPS = 2  # the first steps allocate optimizer state and warm caches: not timed


def probe_rates(model, tokenizer, config: RunConfig, split: Split, steps: int = 5, data=None) -> dict:
    """Train `model` (the method already applied) for `steps` timed optimizer steps on the first
    examples of `split`, then time as many evaluation batches (the engine's evaluation batch size);
    a generative task's evaluation generates, so one batch of answers is timed instead (`data`, the
    loaded dataset, says how long answers run). Returns train_samples_per_s and
    eval_samples_per_s. The model is trained in place: pass a throwaway copy."""
    device = resolve_device(config.device)
    eval_size = config.eval_batch_size or 2 * config.batch_size
    n = min(len(split), steps * max(config.batch_size, eval_size))
    if n == 0:
        return {"train_samples_per_s": None, "eval_samples_per_s": None}
    encoded = encode(Split(split.texts[:n], split.labels[:n]), config.task, tokenizer, config.max_length)
    # The engine pads each batch to its longest member and groups similar lengths (training:
    # length-sorted pools; evaluation: sorted): batches of neighbours in length order pad as little.
    order = sorted(range(n), key=lambda i: len(encoded.input_ids[i]))

    def batches_of(size: int) -> list[dict]:
        chunks = [order[i:i + size] for i in range(0, n, size)] or [order]
        return [to_device(collate(encoded, idx, tokenizer.pad_token_id, config.task, pad_multiple(device.type)),
                          device) for idx in chunks]

    train_batches, eval_batches = batches_of(config.batch_size), batches_of(eval_size)
    calls = WARMUP_STEPS + steps

    def spread(batches: list, i: int) -> dict:
        """The i-th of `calls` batches picked evenly from short to long."""
        return batches[i * (len(batches) - 1) // max(calls - 1, 1)]
    sizes = {"train": 0, "eval": 0}
    model = model.to(device).train()
    trains = any(p.requires_grad for p in model.parameters())  # a baseline trains nothing
    # The head's rate only shapes the optimizer's groups here (a probe times steps, it scores nothing).
    optimizer = make_optimizer(model, config.effective_lr, config.weight_decay, device, config.effective_head_lr,
                               ("classifier", "score")) if trains else None
    autocast = autocast_context(config.precision, device)

    def step(i: int):
        batch = spread(train_batches, i)
        sizes["train"] += len(batch["input_ids"]) if i >= WARMUP_STEPS else 0
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def timed(fn, repeats: int) -> float:
        for i in range(WARMUP_STEPS):
            fn(i)
        t0 = time.perf_counter()
        for i in range(WARMUP_STEPS, WARMUP_STEPS + repeats):
            out = fn(i)
        float(out.detach().float().sum())  # wait for the device
        return time.perf_counter() - t0

    train_s = timed(step, steps) if trains else None
    model.eval()

    def forward(i: int):
        batch = spread(eval_batches, i)
        sizes["eval"] += len(batch["input_ids"]) if i >= WARMUP_STEPS else 0
        return model(**batch).logits

    task = get_task(config.task)
    if task.generate is not None and data is not None:
        settings = generation_settings(config, data, tokenizer)
        middle = order[len(order) // 2:][:eval_size]  # a batch of typical prompts
        picked = Encoded([encoded.input_ids[i] for i in middle], [encoded.labels[i] for i in middle],
                         prompt_ids=[encoded.prompt_ids[i] for i in middle])
        t0 = time.perf_counter()
        task.generate(model, tokenizer, picked, settings, device, autocast)
        return {"train_samples_per_s": sizes["train"] / train_s if trains else None,
                "eval_samples_per_s": len(middle) / (time.perf_counter() - t0)}
    with torch.inference_mode():
        eval_s = timed(forward, steps)
    return {"train_samples_per_s": sizes["train"] / train_s if trains else None,
            "eval_samples_per_s": sizes["eval"] / eval_s}
