"""A run's peak memory, estimated before its first step (ftlab.models.memory's parts) from its
config, its model's config, its parameter counts and the longest batches its data makes. The
engine records it with every run; Launch's Estimate and `ftlab estimate` state it before a run
is queued.

May import: ftlab.config, ftlab.models.
"""

from __future__ import annotations

from typing import Optional

from ftlab.config import RunConfig


def estimate_run(config: RunConfig, model_config, params: dict, method, task, data, sets,
                 process_mb: Optional[float], general: tuple) -> dict:
    """ftlab.models.memory's estimate of a run's peak, from its model's config and the longest
    batches it will run (training's; evaluation's, and a generative run's general-text pass). A
    head on a frozen body keeps no activations of the body: nothing below the head needs a gradient.
    `general`: (articles, tokens) of a generative run's forgetting pass (ftlab.train.engine)."""
    from ftlab.models import memory

    train_set, test_set = sets
    longest = lambda s: min(max(s.lengths(), default=1), config.max_length)  # noqa: E731
    shapes = memory.shapes_of(model_config)
    outputs = len(data.label_names) if task.labelled else shapes.vocab
    eval_batch = config.eval_batch_size or 2 * config.batch_size
    if task.generate is not None:
        # the loss pass over prompt and answer (the vocabulary's logits for every token), then the
        # prompts whole (never cut) generating from the last token's logits; the general-text pass
        prompts = test_set.prompt_ids or [[0]]
        passes = [(eval_batch, longest(test_set), shapes.vocab), (eval_batch, max(len(p) for p in prompts), 1)]
        if method.trains:
            passes.append((*general, shapes.vocab))
    else:
        passes = [(eval_batch, longest(test_set), outputs)]
    return memory.estimate(shapes, total_params=params["total_params"], trainable_params=params["trainable_params"],
                           trains=method.trains, quantize=config.quantize,
                           frozen_body=bool(method.frozen_body and method.frozen_body(config.method_options)),
                           batch_size=config.batch_size, seq_len=longest(train_set), outputs=outputs,
                           eval_passes=passes, process_mb=process_mb, checkpointing=config.gradient_checkpointing)
