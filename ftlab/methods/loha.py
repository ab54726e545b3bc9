"""LoHa (Hyeon-Woo et al., 2022): low-rank Hadamard-product update."""

from ftlab.methods import register_method
from ftlab.methods._common import needs_known_targets
from ftlab.methods._lycoris import LycorisOptions, apply_with


class LoHaOptions(LycorisOptions):
    """Each of the two Hadamard factors is a rank-r product."""


register_method("loha", LoHaOptions, apply_with("LoHaConfig"), default_lr=1e-2, family="reparam",
                quantized=("int8",), quantized_why="peft builds its update from the base weight's shape, which "
                "4-bit packing changes",
                check=needs_known_targets("TRANSFORMERS_MODELS_TO_LOHA_TARGET_MODULES_MAPPING", linear_only=True),
                help="LoHa: the update is the Hadamard product of two low-rank matrices (higher rank per parameter).")
