"""BitFit (Ben Zaken et al., 2021): train only the bias terms, plus the task head."""

from ftlab.methods import register_method
from ftlab.methods._common import set_trainable
from ftlab.models import in_head
from ftlab.options import Options


class BitFitOptions(Options):
    """BitFit has no options: every bias vector trains."""


def apply(model, options: BitFitOptions, ctx):
    set_trainable(model, lambda n: in_head(n, ctx.head_prefixes) or n.endswith(".bias"))
    return model


def check(options, task: str, architecture: str):
    if architecture in ("llama", "mistral", "qwen3", "gemma", "gemma2"):
        return "this architecture has no bias terms, so BitFit would train only the head; use 'head' or 'lora'"
    return None


register_method("bitfit", BitFitOptions, apply, default_lr=1e-2, check=check, family="selective", quantized=(),
                quantized_why="it trains the base's own bias terms, which a quantized base holds frozen",
                help="BitFit: train only the bias terms of the model and the task head (~0.1% of weights).")
