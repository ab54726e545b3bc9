"""LoHa (Hyeon-Woo et al., 2022): low-rank Hadamard-product update."""

from pydantic import Field

from ftlab.config import Options
from ftlab.methods import register_method
from ftlab.methods._common import TargetModules, needs_known_targets, target_modules_field, wrap_with_peft


class LoHaOptions(Options):
    r: int = Field(8, ge=1, le=1024, description="Rank of each of the two low-rank factors.")
    alpha: float = Field(8, gt=0, description="Scaling numerator (update scaled by alpha/r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Rank dropout.")
    target_modules: TargetModules = target_modules_field()


def apply(model, o: LoHaOptions, ctx):
    from peft import LoHaConfig

    return wrap_with_peft(model, LoHaConfig, dict(r=o.r, alpha=o.alpha, rank_dropout=o.dropout,
                                                  target_modules=o.target_modules), ctx)


register_method("loha", LoHaOptions, apply, default_lr=1e-3, family="reparam",
                check=needs_known_targets("TRANSFORMERS_MODELS_TO_LOHA_TARGET_MODULES_MAPPING", linear_only=True),
                help="LoHa: the update is the Hadamard product of two low-rank matrices (higher rank per parameter).")
