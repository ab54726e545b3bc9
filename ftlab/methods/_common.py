"""Helpers shared by the method modules."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

# peft's per-architecture default targets exist for these; elsewhere the user names target_modules.
TARGET_MODULES_HELP = (
    "Module names to adapt (suffixes, e.g. [query, value]); empty uses peft's default for the architecture."
)


def target_modules_field():
    return Field(None, description=TARGET_MODULES_HELP)


TargetModules = Optional[list[str]]


def set_trainable(model, predicate) -> None:
    """requires_grad = predicate(name) for every parameter."""
    for name, p in model.named_parameters():
        p.requires_grad_(bool(predicate(name)))


def peft_task_type(task: str):
    from peft import TaskType

    from ftlab.tasks import get_task

    return TaskType[get_task(task).peft_task_type]


def wrap_with_peft(model, config_cls, kwargs: dict, ctx, *, targets: bool = True):
    """Apply a peft config; the task head is trained fully (peft's modules_to_save)."""
    from peft import get_peft_model

    kwargs = {k: v for k, v in kwargs.items() if v is not None or not targets}
    if targets and kwargs.get("target_modules") is None:
        kwargs.pop("target_modules", None)
    cfg = config_cls(task_type=peft_task_type(ctx.task), modules_to_save=list(ctx.head_prefixes), **kwargs)
    try:
        return get_peft_model(model, cfg)
    except ValueError as err:
        from ftlab.errors import ConfigError

        raise ConfigError(f"peft could not apply {config_cls.__name__} to {ctx.architecture}: {str(err).splitlines()[0]}") from None


def peft_default_targets(mapping_name: str, architecture: str) -> Optional[list]:
    from peft.utils import constants

    return getattr(constants, mapping_name).get(architecture)


# GPT-2 and its relatives implement their projections as transformers' Conv1D, which these peft
# tuners do not wrap (peft raises "Target module Conv1D ... is not supported" at apply time).
CONV1D_ARCHITECTURES = {"gpt2", "gpt_bigcode", "openai-gpt"}


def needs_known_targets(mapping_name: str, linear_only: bool = False):
    """A static check: peft needs target_modules for architectures it has no default for."""

    def check(options, task: str, architecture: str) -> Optional[str]:
        if linear_only and architecture in CONV1D_ARCHITECTURES:
            return "peft implements this method for nn.Linear layers only, and this model's layers are Conv1D; use lora, ia3 or adapter"
        if getattr(options, "target_modules", None):
            return None
        if peft_default_targets(mapping_name, architecture) is None:
            return "peft has no default target modules for this architecture; set --opt target_modules=[...]"
        return None

    return check
