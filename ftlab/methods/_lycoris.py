"""Options shared by the LyCORIS-family methods (LoHa, LoKr): same knobs, different factorisation."""

from pydantic import Field

from ftlab.methods._common import TargetModules, target_modules_field, wrap_with_peft
from ftlab.options import Options


class LycorisOptions(Options):
    r: int = Field(8, ge=1, le=1024, description="Rank of the low-rank factors.")
    alpha: float = Field(8, gt=0, description="Scaling numerator (update scaled by alpha/r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Rank dropout.")
    target_modules: TargetModules = target_modules_field()


def apply_with(config_cls_name: str):
    def apply(model, o: LycorisOptions, ctx):
        import peft

        return wrap_with_peft(model, getattr(peft, config_cls_name), dict(
            r=o.r, alpha=o.alpha, rank_dropout=o.dropout, target_modules=o.target_modules), ctx)

    return apply
