"""A frozen body's features, computed once and reused: the head-only method trains on them.

When only the task head trains, the pretrained body computes the same thing for a text every
time it sees it: every epoch, every validation pass, every run of a learning curve or a seed
sweep. Here the head's input (BERT's pooled [CLS] vector; a token's hidden state for NER) is
computed once per distinct text, in eval mode (no dropout in the frozen body: the usual linear
probe), and kept on disk under FTLAB_CACHE/features/, keyed by the model and the text's token
ids. A run then trains the head on the cached vectors, with the head's own dropout, and the body
never runs again for those texts.

Used only where the head reads one vector per example or per token of an encoder; a decoder's
head (pooled at the last token after the projection) and a head over a trained pooler take the
ordinary path.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ftlab import cache, models
from ftlab.models.quantize import is_quantized
from ftlab.train.batching import Encoded, collate, sorted_batches
from ftlab.tasks import IGNORE, get_task

FORMAT = 1  # bump when what is stored changes


def supported(model, architecture: str, head_prefixes: tuple) -> bool:
    head = getattr(model, head_prefixes[0], None) if len(head_prefixes) == 1 else None
    return isinstance(head, torch.nn.Linear) and not models.is_decoder(architecture)


def _model_key(model_name: str, model) -> str:
    """The model's name, its base's quantization (the tensors sampled below may all be ones it
    leaves in full precision) and a fingerprint of its weights (a retrained folder of the same name
    gets new keys): the sum and the first values of every 16th tensor."""
    kind = is_quantized(model)
    h = hashlib.blake2b(f"{FORMAT}:{model_name}{':' + kind if kind else ''}".encode(), digest_size=12)
    for i, (name, p) in enumerate(model.named_parameters()):
        if i % 16 == 0:
            flat = p.detach().reshape(-1)
            h.update(name.encode() + np.float64(flat.double().sum()).tobytes() + flat[:8].float().cpu().numpy().tobytes())
    return h.hexdigest()


def _row_key(ids) -> bytes:
    return hashlib.blake2b(np.asarray(ids, dtype=np.int32).tobytes(), digest_size=16).digest()


class Store:
    """Feature rows on disk: part files of (keys, offsets, vectors); a row is one vector
    (classification) or one per token (NER). Files are written whole and renamed into place."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.rows: dict[bytes, np.ndarray] = {}
        for part in sorted(folder.glob("part-*.npz")) if folder.is_dir() else []:
            try:
                with np.load(part) as z:
                    keys, offsets, vectors = z["keys"], z["offsets"], z["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged part is recomputed, never trusted
            for i, key in enumerate(keys):
                self.rows[key.tobytes()] = vectors[offsets[i] : offsets[i + 1]]

    def add(self, new: dict[bytes, np.ndarray]) -> None:
        self.rows.update(new)
        if not new:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            keys = np.frombuffer(b"".join(new), dtype=np.uint8).reshape(len(new), 16)
            lengths = [len(v) for v in new.values()]
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            vectors = np.concatenate(list(new.values())).astype(np.float32)
            name = f"part-{os.getpid()}-{len(list(self.folder.glob('part-*.npz')))}-{keys[0].tobytes().hex()[:8]}"
            tmp = self.folder / f".{name}.tmp.npz"
            np.savez(tmp, keys=keys, offsets=offsets, vectors=vectors)
            os.replace(tmp, self.folder / f"{name}.npz")
        except OSError:
            pass  # a cache that cannot be written is skipped: the run has its features in memory


def compute(model, head, sets: list[Encoded], task: str, pad_id: int, device, batch_size: int,
            model_name: str) -> tuple[dict, int]:
    """The head inputs of every row of `sets`: ({row key: vectors}, rows computed now)."""
    store = Store(cache.folder("features") / _model_key(model_name, model))
    wanted: dict[bytes, list[int]] = {}
    for s in sets:
        for ids in s.input_ids:
            wanted.setdefault(_row_key(ids), ids)
    missing = [k for k in wanted if k not in store.rows]
    captured = []
    hook = head.register_forward_pre_hook(lambda module, args: captured.append(args[0].detach()))
    was_training = model.training
    model.eval()
    new = {}
    try:
        per_token = get_task(task).per_token
        todo = Encoded([wanted[k] for k in missing], [[IGNORE] * len(wanted[k]) for k in missing] if per_token
                       else [0] * len(missing))
        with torch.inference_mode():
            for idx in sorted_batches(todo.lengths(), batch_size):
                batch = collate(todo, idx, pad_id, task, multiple=1)
                captured.clear()
                model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
                out = captured[0].float().cpu().numpy()
                for r, i in enumerate(idx):
                    row = out[r, : len(todo.input_ids[i])] if per_token else out[r]
                    new[missing[i]] = row.reshape(-1, out.shape[-1]).copy()
    finally:
        hook.remove()
        model.train(was_training)
    store.add(new)
    return {k: store.rows[k] for k in wanted}, len(new)


class CachedHead(torch.nn.Module):
    """Answers like the model (`.logits`, `.loss`) from cached features: dropout, then the head."""

    def __init__(self, model, head, features: dict, task: str, dropout: float):
        super().__init__()
        self.model, self.head, self.features, self.per_token = model, head, features, get_task(task).per_token
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, input_ids, attention_mask=None, labels=None, **_):
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        rows = [self.features[_row_key([t for t, m in zip(ids, keep) if m])]
                for ids, keep in zip(input_ids.tolist(), mask.tolist())]
        device = next(self.head.parameters()).device
        if not self.per_token:
            x = torch.from_numpy(np.stack([r[0] for r in rows])).to(device)
        else:
            x = torch.zeros(len(rows), input_ids.shape[1], rows[0].shape[-1], device=device)
            for i, r in enumerate(rows):
                x[i, : len(r)] = torch.from_numpy(r).to(device)
        self.dropout.train(self.model.training)
        logits = self.head(self.dropout(x))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                     labels.reshape(-1), ignore_index=IGNORE)
        return SimpleNamespace(logits=logits, loss=loss)


def head_dropout(model) -> float:
    cfg = model.config
    value = getattr(cfg, "classifier_dropout", None)
    return float(value if value is not None else getattr(cfg, "hidden_dropout_prob", 0.1) or 0.0)
