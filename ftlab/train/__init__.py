"""The training engine. `train(config, emit)` runs one fine-tuning run top to bottom."""

from ftlab.train.artifacts import Predictor
from ftlab.train.artifacts import load as load_predictor
from ftlab.train.engine import train

__all__ = ["train", "load_predictor", "Predictor"]
