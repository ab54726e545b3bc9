"""BOFT (Liu et al., 2024): orthogonal fine-tuning with butterfly-factorised rotations."""

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import TargetModules, needs_known_targets, target_modules_field, wrap_with_peft
from ftlab.options import Options


class BoftOptions(Options):
    block_size: int = Field(4, ge=1, le=1024, description="Size of each orthogonal block (must divide the layer width).")
    n_butterfly_factor: int = Field(1, ge=1, le=16, description="Butterfly factors (1 = plain block-diagonal OFT).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Multiplicative dropout on the blocks.")
    target_modules: TargetModules = target_modules_field()


def apply(model, o: BoftOptions, ctx):
    from peft import BOFTConfig

    return wrap_with_peft(model, BOFTConfig, dict(boft_block_size=o.block_size, boft_n_butterfly_factor=o.n_butterfly_factor,
                                                  boft_dropout=o.dropout, target_modules=o.target_modules), ctx)


register_method("boft", BoftOptions, apply, default_lr=3e-2, family="reparam",
                check=needs_known_targets("TRANSFORMERS_MODELS_TO_BOFT_TARGET_MODULES_MAPPING", linear_only=True),
                help="BOFT: rotate the pretrained weights by learned orthogonal butterfly matrices.")
