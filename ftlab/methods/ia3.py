"""IA3 (Liu et al., 2022): learned vectors that rescale keys, values and feed-forward activations."""

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import TargetModules, needs_known_targets, target_modules_field, wrap_with_peft
from ftlab.options import Options


class IA3Options(Options):
    target_modules: TargetModules = target_modules_field()
    feedforward_modules: TargetModules = Field(
        None, description="Which of target_modules are feed-forward (scaled on their input); empty: peft's default."
    )


def apply(model, o: IA3Options, ctx):
    from peft import IA3Config

    kwargs = {"target_modules": o.target_modules}
    if o.feedforward_modules is not None:
        kwargs["feedforward_modules"] = o.feedforward_modules
    return wrap_with_peft(model, IA3Config, kwargs, ctx)


def check(o: IA3Options, task: str, architecture: str):
    if o.feedforward_modules and not o.target_modules:
        return "feedforward_modules needs target_modules too"
    return needs_known_targets("TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING")(o, task, architecture)


register_method("ia3", IA3Options, apply, default_lr=3e-2, check=check, family="additive",
                help="IA3: learn vectors that rescale keys, values and feed-forward activations (fewest parameters).")
