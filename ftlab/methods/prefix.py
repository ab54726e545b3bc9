"""Prefix tuning (Li & Liang, 2021): learned key/value prefixes in every attention layer."""

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import wrap_with_peft
from ftlab.methods._prompting import VirtualTokenOptions


class PrefixOptions(VirtualTokenOptions):
    projection: bool = Field(False, description="Reparameterise the prefix through an MLP (more stable, more parameters).")
    encoder_hidden_size: int = Field(256, ge=1, description="Hidden width of that MLP when projection is on.")


def apply(model, o: PrefixOptions, ctx):
    from peft import PrefixTuningConfig

    return wrap_with_peft(model, PrefixTuningConfig, dict(num_virtual_tokens=o.num_virtual_tokens,
                                                          prefix_projection=o.projection,
                                                          encoder_hidden_size=o.encoder_hidden_size), ctx, targets=False)


register_method("prefix", PrefixOptions, apply, default_lr=3e-2, family="prompt", checkpointing=False,
                help="Prefix tuning: learn key/value vectors prepended in every attention layer; base frozen.")
