"""What the queue changes when a run runs out of memory, before it tries again from its last
checkpoint: the first of the run's `oom_fallbacks` (in the order the user gave) that still applies.

- batch: half the per-device batch (an even one), twice the accumulation. The effective batch,
  the steps and the schedule are the same, so the run resumes where it was and Compare pools it with the
  setting asked for (ftlab.charts.settings reads batch_size x grad_accum).
- checkpointing: gradient checkpointing. The same result for less memory and more time; a setting
  of its own on Compare (its speed is not the asked setting's).
- quantize: an nf4 base, for methods that keep the base frozen. Different weights: a setting of
  its own, never pooled with the full-precision one.

Each step is recorded in the config's `fell_back` (the run's record) and in the run's log.

May import: ftlab.config, ftlab.methods.
"""

from __future__ import annotations

from typing import Callable, Optional

from ftlab import methods
from ftlab.config import RunConfig
from ftlab.errors import ConfigError


def _batch(c: RunConfig) -> Optional[tuple[dict, str]]:
    # only an even batch halves into the same effective batch (an odd one would change it)
    if c.batch_size <= 1 or c.batch_size % 2:
        return None
    half, accum = c.batch_size // 2, c.grad_accum * 2
    return {"batch_size": half, "grad_accum": accum}, f"batch {c.batch_size} -> {half} x accumulation {accum}"


def _checkpointing(c: RunConfig) -> Optional[tuple[dict, str]]:
    if c.gradient_checkpointing or not methods.get_method(c.method).checkpointing:
        return None
    return {"gradient_checkpointing": True}, "gradient checkpointing"


def _quantize(c: RunConfig) -> Optional[tuple[dict, str]]:
    # a continued run keeps its parent's base (ftlab.train.engine.continue_from)
    if c.quantize != "none" or c.init_from or "nf4" not in methods.get_method(c.method).quantized:
        return None
    return {"quantize": "nf4"}, "an nf4 base"


STEPS: dict[str, Callable[[RunConfig], Optional[tuple[dict, str]]]] = {
    "batch": _batch, "checkpointing": _checkpointing, "quantize": _quantize}


def next_fallback(config: RunConfig) -> Optional[tuple[RunConfig, str]]:
    """(the config to retry with, what changed) after an out-of-memory failure; None when none of
    the run's allowed fallbacks applies any more. A change the config refuses (an accumulation
    past its bound) does not apply."""
    for name in config.oom_fallbacks:
        step = STEPS[name](config)
        if step is None:
            continue
        changes, what = step
        try:
            return config.replace(**changes, fell_back=config.fell_back + (what,)), what
        except ConfigError:
            continue
    return None
