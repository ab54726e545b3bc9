"""LoKr (Yeh et al., 2023): Kronecker-product update with a low-rank factor."""

from pydantic import Field

from ftlab.config import Options
from ftlab.methods import register_method
from ftlab.methods._common import TargetModules, needs_known_targets, target_modules_field, wrap_with_peft


class LoKrOptions(Options):
    r: int = Field(8, ge=1, le=1024, description="Rank of the low-rank Kronecker factor.")
    alpha: float = Field(8, gt=0, description="Scaling numerator (update scaled by alpha/r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Rank dropout.")
    target_modules: TargetModules = target_modules_field()


def apply(model, o: LoKrOptions, ctx):
    from peft import LoKrConfig

    return wrap_with_peft(model, LoKrConfig, dict(r=o.r, alpha=o.alpha, rank_dropout=o.dropout,
                                                  target_modules=o.target_modules), ctx)


register_method("lokr", LoKrOptions, apply, default_lr=1e-3, family="reparam",
                check=needs_known_targets("TRANSFORMERS_MODELS_TO_LOKR_TARGET_MODULES_MAPPING", linear_only=True),
                help="LoKr: the update is a Kronecker product with a low-rank factor.")
