"""Quantized bases: a model's frozen weights held in 8 or 4 bits by bitsandbytes (QLoRA's recipe).

`int8` is LLM.int8() (8-bit weights, outliers kept in 16 bits); `nf4` is 4-bit NormalFloat with
a block scale per 64 weights (QLoRA). Both go through transformers' BitsAndBytesConfig; the
layers computed on the input (the task head, a decoder's output layer) stay in full precision,
and peft's `prepare_model_for_kbit_training` freezes the quantized base and keeps its norms in
float32. Methods that train the base's own weights cannot run on it (ftlab.methods: `quantized`).
bitsandbytes runs these on a CPU as well as on a GPU.

May import: ftlab.errors, ftlab.cache; torch, transformers, peft and bitsandbytes inside functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from ftlab.errors import ModelError

KINDS = ("none", "int8", "nf4")
HELP = ("Hold the frozen base model's weights in fewer bits (bitsandbytes): 'int8' (LLM.int8()), 'nf4' (4-bit "
        "NormalFloat, QLoRA); 'none' keeps them as loaded. For methods that keep the base frozen (LoRA, IA3, "
        "prompt tuning, ...); the trained parameters and the task head stay in full precision.")
# Modules computed in full precision whatever the base: the task heads, BERT's pooler and a
# decoder's output layer.
KEEP_FULL = ["classifier", "score", "lm_head", "pooler.dense"]  # (suffixes) BERT's pooler: the head method may train it
# Bits a weight of a quantized linear layer takes, with its share of the block scales (nf4: one
# 32-bit absmax per 64 weights; int8: one per output row, a rounding error here).
BITS = {"none": 32.0, "int8": 8.0, "nf4": 4.0 + 32 / 64}

# bitsandbytes' CPU backend says at import that it could not download an optional kernel (from the
# Hub, which an offline machine never reaches) and that int8 inputs are cast: both are noise in a log.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def check_available(kind: str) -> None:
    """Raises ModelError (one line) when `kind` needs bitsandbytes and it cannot be imported."""
    if kind == "none":
        return
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelError(f"quantize {kind}: needs the bitsandbytes package (pip install bitsandbytes==0.50.2)") from None


def config(kind: str, compute_dtype):
    """transformers' BitsAndBytesConfig for `kind`, computing in `compute_dtype`."""
    from transformers import BitsAndBytesConfig

    check_available(kind)
    if kind == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
                                  llm_int8_skip_modules=KEEP_FULL)
    if kind == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=KEEP_FULL)
    raise ModelError(f"quantize: expected one of {', '.join(KINDS)} (got {kind!r})")


def load(auto, source: str, kind: str, compute_dtype, device: str = "cpu", **kwargs):
    """`auto.from_pretrained(source)` with its linear layers quantized to `kind`, frozen and ready for
    a method to add trainable parameters (peft's prepare_model_for_kbit_training, without
    gradient checkpointing, which stays the run's own choice)."""
    import warnings

    from peft import prepare_model_for_kbit_training

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*MatMul8bitLt.*")
        model = auto.from_pretrained(source, quantization_config=config(kind, compute_dtype),
                                     device_map={"": device}, **kwargs)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    own_memory(model)
    for module in model.modules():
        # On a CPU with AVX512-BF16, bitsandbytes repacks a 4-bit weight for inference the first time
        # the layer runs in eval mode, and keeps it so: a later training step then takes the
        # inference kernel, which breaks the backward pass (and adds a bias in place). A run
        # evaluates between training steps: the weights keep the one layout that trains.
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return model


def own_memory(model) -> None:
    """Copy the tensors that still point into the loaded file (the layers left unquantized) into
    memory of their own: once none does, the file's mapping closes, and the pages quantization
    read through it stop counting as the process's memory (they would stay resident, as much as
    the full-precision model, until the system needs them)."""
    import torch

    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if type(tensor).__module__.startswith("bitsandbytes"):
                continue  # quantized: already built in memory of its own
            tensor.data = tensor.data.clone()


def saved_random(model, folder: Path) -> str:
    """A random test model written once to `folder` (transformers quantizes only what it loads)."""
    import os
    import shutil

    if not (folder / "config.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        model.save_pretrained(tmp)
        try:
            tmp.rename(folder)
        except OSError:  # another process wrote the same model first
            shutil.rmtree(tmp, ignore_errors=True)
    return str(folder)


def is_quantized(model) -> Optional[str]:
    """The kind of quantization a loaded model holds, or None."""
    q = getattr(getattr(model, "config", None), "quantization_config", None)
    if q is None:
        return None
    get = q.get if isinstance(q, dict) else lambda k, d=None: getattr(q, k, d)
    return "nf4" if get("load_in_4bit") else "int8" if get("load_in_8bit") else None
