"""Save what a method trained, and load it back for prediction.

Only trainable parameters are saved (the adapter and the head for PEFT methods: kilobytes to a
few MB; everything for full fine-tuning). Loading rebuilds the base model from the saved config
(same seed, so even the random `tiny` models and VeRA's frozen projections come back identical),
applies the method, and loads the trained tensors on top, checking every one found its place.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ftlab import methods, models
from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.methods import MethodContext
from ftlab.tasks import GenerationSettings, get_task

WEIGHTS = "trained.safetensors"
META = "run.json"


def save(model, config: RunConfig, label_names: list[str], out_dir: str, label_counts: tuple = (),
         generation=None) -> str:
    """The trained tensors, and what rebuilding the model needs: the config, the label names and
    the train split's label counts (the majority baseline answers from them); a generative run's
    generation settings (how long its answers run, where they stop), which its predictions keep."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if p.requires_grad}
    save_file(tensors, str(out / WEIGHTS))
    meta = {"config": config.to_dict(), "label_names": label_names, "label_counts": list(label_counts)}
    if generation is not None:
        meta["generation"] = dataclasses.asdict(generation)
    (out / META).write_text(json.dumps(meta, indent=2))
    return str(out.resolve())


class Predictor:
    """A trained run, ready to predict raw text."""

    def __init__(self, model, tokenizer, config: RunConfig, label_names: list[str]):
        self.model, self.tokenizer, self.config, self.label_names = model.eval(), tokenizer, config, label_names

    @torch.inference_mode()
    def predict(self, texts: list[str]) -> list[dict]:
        return get_task(self.config.task).predict(self.model, self.tokenizer, texts, self.config.max_length,
                                                  self.label_names)

    @property
    def streams(self) -> bool:
        """True when the run's task writes its answer token by token (generation)."""
        return get_task(self.config.task).stream is not None

    def stream(self, text: str):
        """A generative run's answer to `text` as it grows (Task.stream)."""
        return get_task(self.config.task).stream(self.model, self.tokenizer, text, self.config.max_length)


def run_data(config: RunConfig):
    """The splits `config` trains and is tested on (its dataset, split seed, columns and caps)."""
    from ftlab import data

    return data.load_dataset(config.dataset, split_seed=config.split_seed, text_column=config.text_column,
                             label_column=config.label_column, encoding=config.encoding, max_train=config.max_train,
                             max_eval=config.max_eval, balanced=config.balanced_train, task=config.task)


def build_untrained(config: RunConfig, label_names: list[str], label_counts: tuple = (), train=None,
                    dequantize: bool = False):
    """The model exactly as the engine builds it before its first step (same seed, same method init;
    few-shot prompting draws the same examples from the same train split, `train` if given).
    `dequantize`: a quantized base turned back into plain layers holding the weights it rounded
    to (what a merged export folds the method into). Returns (model, tokenizer, the method's
    context: its head prefixes among the rest)."""
    tokenizer = models.load_tokenizer(config.model)
    model = models.load_model(config.model, config.task, label_names, tokenizer, seed=config.seed,
                              quantize=config.quantize)
    if dequantize and config.quantize != "none":
        model = model.dequantize()
    method = methods.get_method(config.method)
    if train is None and method.reads_train:
        train = run_data(config).train
    ctx = MethodContext(config.task, model.config.model_type, models.head_prefixes(model), 1000,
                        tuple(label_names), tuple(label_counts), tokenizer, config.model, config.seed, train)
    return method.apply(model, config.method_options, ctx), tokenizer, ctx


def load(artifact_dir: str, dequantize: bool = False) -> Predictor:
    """The trained run in `artifact_dir`, ready to predict (`dequantize`: see build_untrained)."""
    root = Path(artifact_dir)
    if not (root / META).is_file() or not (root / WEIGHTS).is_file():
        raise FtlabError(f"no trained run in {root}: expected {META} and {WEIGHTS}")
    meta = json.loads((root / META).read_text())
    config = RunConfig(**meta["config"])
    label_names = meta["label_names"]
    model, tokenizer, _ = build_untrained(config, label_names, tuple(meta.get("label_counts", ())),
                                          dequantize=dequantize)
    tensors = load_file(str(root / WEIGHTS))
    missing = set(tensors) - {n for n, _ in model.named_parameters()}
    if missing:
        raise FtlabError(f"{root}: {len(missing)} saved tensors do not fit the rebuilt model (e.g. {sorted(missing)[0]})")
    model.load_state_dict(tensors, strict=False)
    if meta.get("generation"):  # a generative run answers as its evaluation did
        model.generation_settings = GenerationSettings(**{k: tuple(v) if k == "stop" else v
                                                          for k, v in meta["generation"].items()})
    return Predictor(model, tokenizer, config, label_names)
