"""The training engine. `train(config, emit)` runs one fine-tuning run top to bottom.

engine.py is the entry point the CLI, the queue's workers and the tests all call; batching.py and
token_cache.py turn a dataset into padded batches; artifacts.py saves and reloads what a run
trained. It reports through events and never opens the database.

May import: torch, transformers, peft, ftlab.config, ftlab.data, ftlab.methods, ftlab.models,
ftlab.metrics, ftlab.errors. Never the store, the queue, the service or the UI.
"""

from ftlab.train.artifacts import Predictor
from ftlab.train.artifacts import load as load_predictor
from ftlab.train.engine import train

__all__ = ["train", "load_predictor", "Predictor"]
