"""Houlsby bottleneck adapters (Houlsby et al., 2019).

A small bottleneck MLP (down-project, non-linearity, up-project) is added, with a residual, to
the output of each attention block and each feed-forward block, before the residual add and
LayerNorm of the layer. The up-projection starts at zero, so training starts from the
pretrained function exactly. The pretrained weights stay frozen; adapters, LayerNorms (as in
the paper) and the task head train.
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field

from ftlab.methods import register_method
from ftlab.methods._common import set_trainable
from ftlab.models import in_head
from ftlab.options import Options

# Where the sublayer outputs are, per architecture (regex on qualified module names).
TARGETS = {
    "bert": [r"attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "roberta": [r"attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "xlm-roberta": [r"attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "electra": [r"attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "distilbert": [r"attention\.out_lin$", r"ffn\.lin2$"],
    "gpt2": [r"attn\.c_proj$", r"mlp\.c_proj$"],
    "llama": [r"self_attn\.o_proj$", r"mlp\.down_proj$"],
    "mistral": [r"self_attn\.o_proj$", r"mlp\.down_proj$"],
    "qwen2": [r"self_attn\.o_proj$", r"mlp\.down_proj$"],
}


class AdapterOptions(Options):
    bottleneck: int = Field(64, ge=1, le=4096, description="Width of each adapter's bottleneck.")
    activation: Literal["gelu", "relu", "tanh"] = Field("gelu", description="Non-linearity inside the adapter.")
    train_layernorm: bool = Field(True, description="Also train LayerNorm weights, as Houlsby et al. do.")
    target_modules: Optional[list[str]] = Field(
        None, description="Regexes of the sublayer output modules to adapt; empty uses the known ones for the architecture."
    )


def _adapter_module(width: int, options: AdapterOptions):
    import torch
    from torch import nn

    class Adapter(nn.Module):
        """out = sublayer(x) + up(act(down(sublayer(x)))), up initialised to zero."""

        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner
            self.adapter_down = nn.Linear(width, options.bottleneck)
            self.adapter_up = nn.Linear(options.bottleneck, width)
            self.act = {"gelu": nn.GELU(), "relu": nn.ReLU(), "tanh": nn.Tanh()}[options.activation]
            nn.init.normal_(self.adapter_down.weight, std=1e-3)
            nn.init.zeros_(self.adapter_down.bias)
            nn.init.zeros_(self.adapter_up.weight)
            nn.init.zeros_(self.adapter_up.bias)
            ref = next(inner.parameters())  # a quantized base's weight is integer: the adapter stays float32
            self.to(device=ref.device, dtype=ref.dtype if ref.dtype.is_floating_point else torch.float32)

        def forward(self, *args, **kwargs) -> torch.Tensor:
            h = self.inner(*args, **kwargs)
            return h + self.adapter_up(self.act(self.adapter_down(h)))

    return Adapter


def _out_width(module) -> Optional[int]:
    return getattr(module, "out_features", None) or getattr(module, "nf", None)  # nn.Linear / GPT-2 Conv1D


def apply(model, options: AdapterOptions, ctx):
    patterns = [re.compile(p) for p in (options.target_modules or TARGETS[ctx.architecture])]
    targets = [(n, m) for n, m in model.named_modules() if any(p.search(n) for p in patterns)]
    if not targets:
        from ftlab.errors import ConfigError

        raise ConfigError(f"adapter: no module matched {[p.pattern for p in patterns]}; set --opt target_modules=[...]")
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _adapter_module(_out_width(module), options)(module))

    def trainable(n: str) -> bool:
        return (".adapter_" in n or in_head(n, ctx.head_prefixes)
                or (options.train_layernorm and re.search(r"(layer_?norm|ln_\d|ln_f|norm)\.", n.lower()) is not None))

    set_trainable(model, trainable)
    return model


def check(options: AdapterOptions, task: str, architecture: str) -> Optional[str]:
    if options.target_modules is None and architecture not in TARGETS:
        return f"no known adapter positions for this architecture (known: {', '.join(TARGETS)}); set --opt target_modules=[...]"
    return None


register_method("adapter", AdapterOptions, apply, default_lr=1e-3, check=check, family="additive",
                search={"bottleneck": [16, 32, 64, 128]},
                help="Houlsby bottleneck adapters after every attention and feed-forward block; base frozen.")
