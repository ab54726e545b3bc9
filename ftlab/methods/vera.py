"""VeRA (Kopiczko et al., 2024): shared frozen random low-rank matrices, trained scaling vectors."""

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import TargetModules, needs_known_targets, target_modules_field, wrap_with_peft
from ftlab.options import Options


class VeraOptions(Options):
    r: int = Field(256, ge=1, le=4096, description="Rank of the shared random projections (cheap: they are frozen).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the VeRA input.")
    target_modules: TargetModules = target_modules_field()


def apply(model, o: VeraOptions, ctx):
    from peft import VeraConfig

    return wrap_with_peft(model, VeraConfig, dict(r=o.r, vera_dropout=o.dropout, target_modules=o.target_modules), ctx)


register_method("vera", VeraOptions, apply, default_lr=1e-1, family="reparam",
                check=needs_known_targets("TRANSFORMERS_MODELS_TO_VERA_TARGET_MODULES_MAPPING"),
                help="VeRA: frozen random low-rank matrices shared by all layers; only scaling vectors train.")
