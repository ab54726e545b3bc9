"""What the queue changes when a run runs out of memory, before it tries again from its last
checkpoint: the first of the run's `oom_fallbacks` (in the order the user gave) that still applies.

- batch: half the per-device batch, twice the accumulation. The effective batch, the steps and
  the schedule are the same, so the run resumes where it was and Compare pools it with the
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


def _batch(c: RunConfig) -> Optional[tuple[dict, str]]:
    if c.batch_size <= 1:
        return None
    half = c.batch_size // 2
    return ({"batch_size": half, "grad_accum": c.grad_accum * c.batch_size // half},
            f"batch {c.batch_size} -> {half} x accumulation {c.grad_accum * c.batch_size // half}")


def _checkpointing(c: RunConfig) -> Optional[tuple[dict, str]]:
    return None if c.gradient_checkpointing else ({"gradient_checkpointing": True}, "gradient checkpointing")


def _quantize(c: RunConfig) -> Optional[tuple[dict, str]]:
    if c.quantize != "none" or "nf4" not in methods.get_method(c.method).quantized:
        return None
    return {"quantize": "nf4"}, "an nf4 base"


STEPS: dict[str, Callable[[RunConfig], Optional[tuple[dict, str]]]] = {
    "batch": _batch, "checkpointing": _checkpointing, "quantize": _quantize}


def next_fallback(config: RunConfig) -> Optional[tuple[RunConfig, str]]:
    """(the config to retry with, what changed) after an out-of-memory failure; None when none of
    the run's allowed fallbacks applies any more."""
    for name in config.oom_fallbacks:
        step = STEPS[name](config)
        if step is not None:
            changes, what = step
            return config.replace(**changes, fell_back=config.fell_back + (what,)), what
    return None
