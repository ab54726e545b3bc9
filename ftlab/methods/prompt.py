"""Prompt tuning (Lester et al., 2021): learned soft-prompt embeddings before the input."""

from ftlab.methods import register_method
from ftlab.methods._common import wrap_with_peft
from ftlab.methods._prompting import VirtualTokenOptions


class PromptOptions(VirtualTokenOptions):
    """Soft prompt of num_virtual_tokens embeddings, randomly initialised."""


def apply(model, o: PromptOptions, ctx):
    from peft import PromptTuningConfig

    return wrap_with_peft(model, PromptTuningConfig, dict(num_virtual_tokens=o.num_virtual_tokens), ctx, targets=False)


register_method("prompt", PromptOptions, apply, default_lr=3e-2, family="prompt", tasks={"classification", "sft"},
                help="Prompt tuning: learn soft-prompt embeddings placed before the input; base frozen. "
                "Classification only: the virtual tokens would shift NER tags off their tokens.")
