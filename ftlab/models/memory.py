"""Peak memory of a run, estimated before it starts, from the model's shapes.

    peak = process + weights + gradients + optimizer state + the larger of training's saved
           activations (and its output logits) and evaluation's working memory

- process: what the worker holds before the model (Python, torch, transformers, the tokenizer,
  the data): PROCESS_MB on a CPU, where the measured peak is the process's resident memory;
  0 on a GPU, where it is the memory tensors took on the device.
- weights: every parameter in float32, but a quantized base's linear layers in 8 or 4 bits
  (ftlab.models.quantize.BITS); gradients: 4 bytes per trainable parameter; optimizer: AdamW's
  two float32 moments per trainable parameter.
- activations: what autograd keeps for the backward pass, per token and layer
  ACT_HIDDEN x hidden + ACT_INTERMEDIATE x intermediate floats, for every token of the longest
  training batch (batches are sorted by length), when anything below the top of the network
  trains; plus the logits over the output (a language model's vocabulary, or the labels) and
  their softmax and gradient.
- evaluation: one layer's working memory for an evaluation batch, and its logits with the
  copies a loss over them makes (a language model's test loss: the vocabulary's logits, shifted
  and log-softmaxed, for every token of the batch).

The coefficients are fitted to measured runs on the embedded models on a CPU (README, "Memory:
quantized bases, an estimate before the run, ..."; benchmarks/memory_estimate.py); `ftlab
estimate` prints each part.

May import: ftlab.models, ftlab.models.quantize; transformers' AutoConfig inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftlab.models.quantize import BITS

MB = 2 ** 20
PROCESS_MB = 650.0  # a CPU worker's memory before its model loads, with the data (570-740 MB measured: README)
ACT_HIDDEN = 12.0  # floats kept per token, layer and hidden unit (norms, q/k/v/o inputs, residuals)
ACT_INTERMEDIATE = 5.0  # ... per intermediate (MLP) unit (up, gate, activation and their inputs)
LOGIT_COPIES = 3.0  # logits, their log-softmax and its gradient (in evaluation: the shifted copy)
EVAL_LAYER = 4.0  # one layer's working floats per token and hidden unit in evaluation


@dataclass(frozen=True)
class Shapes:
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    embedding_params: int  # token (and learned position) embeddings: never quantized


def shapes_of(config) -> Shapes:
    """The shapes a transformers config describes (BERT, GPT-2, Llama and their relatives)."""
    get = lambda *names, default=0: next((int(getattr(config, n)) for n in names  # noqa: E731
                                          if getattr(config, n, None)), default)
    hidden = get("hidden_size", "n_embd", "d_model", "dim")
    vocab = get("vocab_size")
    positions = get("max_position_embeddings", "n_positions") if getattr(config, "model_type", "") in (
        "bert", "gpt2", "roberta", "xlm-roberta", "distilbert", "electra") else 0
    return Shapes(hidden=hidden, layers=get("num_hidden_layers", "n_layer", "num_layers"),
                  intermediate=get("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden),
                  vocab=vocab, embedding_params=(vocab + positions) * hidden)


def estimate(shapes: Shapes, *, total_params: int, trainable_params: int, trains: bool, frozen_body: bool,
             quantize: str, batch_size: int, seq_len: int, outputs: int, eval_passes: list,
             process_mb: float | None = PROCESS_MB, checkpointing: bool = False) -> dict:
    """Each part of the peak and their sum, in MB (see the module's docstring). `outputs`: the
    logits' width (the vocabulary of a language model, else the number of labels); `eval_passes`:
    (rows, tokens, logits' width) of each kind of evaluation batch; `process_mb`: the worker's
    memory before its model (0 on a GPU; None: PROCESS_MB); `checkpointing`: gradient checkpointing
    keeps each layer's input and recomputes one layer at a time in the backward pass."""
    linear = max(0, total_params - shapes.embedding_params)
    weights = linear * BITS[quantize] / 8 + (total_params - linear) * 4
    gradients = trainable_params * 4 if trains else 0
    optimizer = trainable_params * 8 if trains else 0
    per_token = ACT_HIDDEN * shapes.hidden + ACT_INTERMEDIATE * shapes.intermediate
    activations = 0.0
    if trains:
        tokens = batch_size * seq_len
        kept = (shapes.layers * shapes.hidden + per_token) if checkpointing else shapes.layers * per_token
        activations = (0 if frozen_body else tokens * kept * 4) + tokens * outputs * 4 * LOGIT_COPIES
    evaluation = max((rows * tokens * ((EVAL_LAYER * shapes.hidden + shapes.intermediate) * 4 + width * 4 * LOGIT_COPIES)
                      for rows, tokens, width in eval_passes), default=0)
    parts = {"process_mb": PROCESS_MB if process_mb is None else process_mb, "weights_mb": weights / MB,
             "gradients_mb": gradients / MB, "optimizer_mb": optimizer / MB,
             "activations_mb": activations / MB, "evaluation_mb": evaluation / MB}
    parts["estimated_peak_mb"] = (parts["process_mb"] + parts["weights_mb"] + parts["gradients_mb"]
                                  + parts["optimizer_mb"] + max(parts["activations_mb"], parts["evaluation_mb"]))
    return {k: round(v, 1) for k, v in parts.items()}

