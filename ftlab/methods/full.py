"""Full fine-tuning: every weight trains. The reference every other method is compared with."""

from ftlab.methods import register_method
from ftlab.methods._common import set_trainable
from ftlab.options import Options


class FullOptions(Options):
    """Full fine-tuning has no options of its own."""


def apply(model, options: FullOptions, ctx):
    set_trainable(model, lambda name: True)
    return model


register_method("full", FullOptions, apply, default_lr=1e-4, family="full", lr_range=(1e-5, 5e-4), quantized=(),
                quantized_why="it trains every weight of the base, which a quantized base holds frozen in a few bits",
                help="Full fine-tuning: every weight of the model and the task head trains.")
