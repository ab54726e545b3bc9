"""AdaLoRA (Zhang et al., 2023): LoRA whose rank budget is re-allocated during training."""

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import TargetModules, needs_known_targets, target_modules_field, wrap_with_peft
from ftlab.options import Options


class AdaLoraOptions(Options):
    init_r: int = Field(12, ge=1, le=1024, description="Starting rank of every adapted matrix.")
    target_r: int = Field(8, ge=1, le=1024, description="Average rank left after budget pruning.")
    alpha: float = Field(32, gt=0, description="Scaling numerator (update scaled by alpha/r).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the adapter input.")
    tinit: float = Field(0.1, ge=0, lt=1, description="Share of steps trained at init_r before pruning starts.")
    tfinal: float = Field(0.2, ge=0, lt=1, description="Share of final steps trained at the final budget.")
    delta_t: int = Field(10, ge=1, description="Steps between two budget re-allocations.")
    target_modules: TargetModules = target_modules_field()


def apply(model, o: AdaLoraOptions, ctx):
    from peft import AdaLoraConfig

    total = max(ctx.total_steps, 3)
    tinit, tfinal = int(o.tinit * total), int(o.tfinal * total)
    if tinit + tfinal >= total:  # very short runs: keep a pruning phase of at least one step
        tinit, tfinal = 0, 0
    return wrap_with_peft(model, AdaLoraConfig, dict(init_r=o.init_r, target_r=o.target_r, lora_alpha=o.alpha,
                                                     lora_dropout=o.dropout, tinit=tinit, tfinal=tfinal,
                                                     deltaT=o.delta_t, total_step=total,
                                                     target_modules=o.target_modules), ctx)


def after_step(model, step: int) -> None:
    """AdaLoRA re-allocates rank from the gradients' sensitivity: call after backward, before zero_grad."""
    model.base_model.update_and_allocate(step)


def check(o: AdaLoraOptions, task: str, architecture: str):
    if o.target_r > o.init_r:
        return "target_r must not exceed init_r"
    return needs_known_targets("TRANSFORMERS_MODELS_TO_ADALORA_TARGET_MODULES_MAPPING")(o, task, architecture)


register_method("adalora", AdaLoraOptions, apply, default_lr=3e-2, check=check, after_step=after_step,
                family="reparam", help="AdaLoRA: LoRA with an SVD-style budget that moves rank to the matrices that need it.")
