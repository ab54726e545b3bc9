"""LoKr (Yeh et al., 2023): Kronecker-product update with a low-rank factor."""

from ftlab.methods import register_method
from ftlab.methods._common import needs_known_targets
from ftlab.methods._lycoris import LycorisOptions, apply_with


class LoKrOptions(LycorisOptions):
    """The update is kron(W1, A@B) with A@B of rank r."""


register_method("lokr", LoKrOptions, apply_with("LoKrConfig"), default_lr=3e-2, family="reparam",
                quantized=("int8",), quantized_why="peft builds its update from the base weight's shape, which "
                "4-bit packing changes",
                check=needs_known_targets("TRANSFORMERS_MODELS_TO_LOKR_TARGET_MODULES_MAPPING", linear_only=True),
                help="LoKr: the update is a Kronecker product with a low-rank factor.")
