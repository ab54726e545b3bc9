"""Linear probe: the pretrained model is frozen; only the new task head trains."""

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import set_trainable
from ftlab.models import in_head
from ftlab.options import Options


class HeadOptions(Options):
    train_pooler: bool = Field(False, description="Also train BERT's pooler (the dense layer under the classifier).")


def apply(model, options: HeadOptions, ctx):
    set_trainable(model, lambda n: in_head(n, ctx.head_prefixes) or (options.train_pooler and ".pooler." in f".{n}"))
    return model


register_method("head", HeadOptions, apply, default_lr=5e-2, family="selective", tasks={"classification", "ner"},
                frozen_body=lambda options: not options.train_pooler,
                help="Linear probe: freeze the pretrained model and train only the task head.")
