"""LoRA (Hu et al., 2021), with the DoRA and rsLoRA variants, through peft."""

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import TargetModules, needs_known_targets, target_modules_field, wrap_with_peft
from ftlab.options import Options


class LoraOptions(Options):
    r: int = Field(8, ge=1, le=1024, description="Rank of the low-rank update B@A.")
    alpha: float = Field(16, gt=0, description="Scaling numerator: the update is scaled by alpha/r (alpha/sqrt(r) with rslora).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: TargetModules = target_modules_field()
    dora: bool = Field(False, description="DoRA: decompose into magnitude and direction; LoRA adapts the direction.")
    rslora: bool = Field(False, description="rsLoRA: scale by alpha/sqrt(r), which keeps high ranks stable.")


def apply(model, o: LoraOptions, ctx):
    from peft import LoraConfig

    return wrap_with_peft(model, LoraConfig, dict(r=o.r, lora_alpha=o.alpha, lora_dropout=o.dropout,
                                                  target_modules=o.target_modules, use_dora=o.dora,
                                                  use_rslora=o.rslora), ctx)


register_method("lora", LoraOptions, apply, default_lr=5e-3, check=needs_known_targets(
    "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"), family="reparam",
    search={"r": [4, 8, 16, 32], "alpha": [8, 16, 32, 64]},
    help="LoRA: train a low-rank update of the attention projections (query, value by default); DoRA/rsLoRA options.")
