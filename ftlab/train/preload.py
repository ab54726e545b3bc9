"""Import, ahead of any job, what the engine would otherwise import inside its first run.

A cold worker spends most of its time to first optimizer step importing: transformers' BERT
modeling (with its kernel integrations), the fast tokenizer, peft and evaluate with ftlab's
metric modules (~7 s of ~9.5 s for MiniLM full fine-tuning on 2 CPU cores). A worker calls
`preload()` before it reads its job, so a worker started ahead of time (a queue's spare) has
paid all of it when a job arrives. Nothing here touches a GPU or reads model weights.
"""

from __future__ import annotations

import importlib
import time

# The built-in models are BERT-family (minilm, tiny); other architectures import on first use.
MODULES = (
    "torch",
    "transformers",
    "transformers.models.bert.modeling_bert",
    "transformers.models.bert.tokenization_bert",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "peft",
    "ftlab.methods",
    "ftlab.train.engine",
)


def preload() -> float:
    """Import the engine's dependencies and load the metric modules; returns the seconds spent."""
    t0 = time.perf_counter()
    for name in MODULES:
        importlib.import_module(name)
    from ftlab.metrics import _modules

    for name in (_modules.CLASSIFICATION, _modules.SEQEVAL):
        _modules.load_module(name)
    return time.perf_counter() - t0
