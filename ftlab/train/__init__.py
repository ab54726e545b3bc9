"""The training engine. `train(config, emit)` runs one fine-tuning run top to bottom.

engine.py is the entry point the CLI, the queue's workers and the tests all call; batching.py and
token_cache.py turn a dataset into padded batches; artifacts.py saves and reloads what a run
trained. It reports through events and never opens the database.

May import: torch, transformers, peft, ftlab.config, ftlab.data, ftlab.methods, ftlab.models,
ftlab.metrics, ftlab.errors. Never the store, the queue, the service or the UI.
"""

__all__ = ["train", "load_predictor", "Predictor"]


def __getattr__(name: str):
    """`train`, `load_predictor` and `Predictor` import torch on first use, not with the package:
    the scheduler reads checkpoint folders (ftlab.train.checkpoint) without loading torch."""
    if name == "train":
        from ftlab.train.engine import train

        return train
    if name in ("load_predictor", "Predictor"):
        from ftlab.train import artifacts

        return artifacts.load if name == "load_predictor" else artifacts.Predictor
    raise AttributeError(f"module 'ftlab.train' has no attribute {name!r}")
