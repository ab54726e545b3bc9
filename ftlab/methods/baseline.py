"""Baselines: what a task scores with no fine-tuning at all. Every score chart draws them.

- `majority`: always the label most frequent in the train split (for NER the most frequent tag,
  "O"). The floor a trained model has to clear.
- `zero-shot`: the pretrained model as it is. An encoder embeds the text and each label name
  (mean pooling over the last hidden states) and the text gets the label whose embedding is
  closest (cosine). A decoder is prompted instead: an instruction naming the labels, the text,
  and the label whose words it finds most likely (ftlab.methods.prompting). What the base model
  knows before any fine-tuning.

Neither trains a parameter (`trains=False`): the engine evaluates the module `apply` returns,
which answers like a transformers model (`.logits`, `.loss`).
"""

from __future__ import annotations

from types import SimpleNamespace

from pydantic import Field

from ftlab.methods import BASELINE_FULL, prompting, register_method
from ftlab.models import is_decoder
from ftlab.options import Options
from ftlab.tasks import get_task


def _answer(logits, labels):
    import torch.nn.functional as F

    loss = None
    if labels is not None:
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)
    return SimpleNamespace(logits=logits, loss=loss)


class MajorityOptions(Options):
    """The majority baseline has no options."""


def majority_module(n_labels: int, label: int, token_level: bool):
    import torch

    class Majority(torch.nn.Module):
        def __init__(self):
            super().__init__()
            logits = torch.full((n_labels,), -1.0)
            logits[label] = 1.0
            self.register_buffer("answer", logits)

        def forward(self, input_ids, attention_mask=None, labels=None, **_):
            shape = input_ids.shape if token_level else input_ids.shape[:1]
            return _answer(self.answer.expand(*shape, n_labels), labels)

    return Majority()


def apply_majority(model, options: MajorityOptions, ctx):
    counts = list(ctx.train_label_counts) or [1]
    from ftlab.tasks import get_task

    return majority_module(len(ctx.label_names) or len(counts), counts.index(max(counts)),
                           get_task(ctx.task).per_token)


class ZeroShotOptions(Options):
    template: str = Field("{label}", description="How a label name is written before it is embedded, e.g. "
                          "'This text is {label}.'; {label} is replaced by the label's name, underscores as spaces.")
    temperature: float = Field(0.05, gt=0, le=10, description="Cosine similarities are divided by this to "
                               "make logits; it changes the reported loss, never the predicted label.")
    instruction: str = Field(prompting.INSTRUCTION, description=prompting.INSTRUCTION_HELP)
    example: str = Field(prompting.EXAMPLE, description=prompting.EXAMPLE_HELP)


def zero_shot_module(encoder, label_vectors, temperature: float):
    import torch

    class ZeroShot(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.register_buffer("labels", label_vectors)

        def forward(self, input_ids, attention_mask=None, labels=None, **_):
            text = mean_pooled(self.encoder, input_ids, attention_mask)
            return _answer(text @ self.labels.T / temperature, labels)

    return ZeroShot()


def mean_pooled(encoder, input_ids, attention_mask):
    """Unit-length mean of the last hidden states over the real (non-pad) tokens."""
    import torch

    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


def apply_zero_shot(model, options: ZeroShotOptions, ctx):
    import torch

    if not get_task(ctx.task).labelled:  # a generative task: the base model answers as it is
        return prompting.frozen(model)
    if is_decoder(ctx.architecture):
        return prompting.prompting(ctx, options.instruction, options.example, [], 0)

    encoder = model.base_model  # BertModel, GPT2Model, LlamaModel...: the body without the task head
    for p in model.parameters():
        p.requires_grad_(False)
    phrases = [options.template.replace("{label}", str(name).replace("_", " ")) for name in ctx.label_names]
    enc = ctx.tokenizer(phrases, padding=True, return_tensors="pt")
    encoder.eval()
    with torch.inference_mode():
        vectors = mean_pooled(encoder, enc["input_ids"], enc["attention_mask"])
    return zero_shot_module(encoder, vectors.clone(), options.temperature)


def check_template(options: ZeroShotOptions, task: str, architecture: str):
    if not get_task(task).labelled:
        return None  # the templates name labels; a generative task's prompt is the data's own
    if is_decoder(architecture):
        return prompting.check_templates(options.instruction, options.example)
    if "{label}" not in options.template:
        return "template must contain {label}, where the label's name goes"
    return None


register_method("majority", MajorityOptions, apply_majority, default_lr=1e-3, family="baseline", trains=False,
                quantized=(), quantized_why=BASELINE_FULL,
                tasks={"classification", "ner"},
                help="Baseline: always the most frequent training label (NER: the most frequent tag, 'O'). "
                     "Trains nothing; the score to clear.")
register_method("zero-shot", ZeroShotOptions, apply_zero_shot, default_lr=1e-3, family="baseline", trains=False,
                quantized=(), quantized_why=BASELINE_FULL,
                tasks={"classification", "sft"}, check=check_template,
                help="Baseline: the base model before fine-tuning. On an encoder each text gets the label whose "
                     "name embeds closest (mean pooling, cosine); a decoder is prompted with an instruction naming "
                     "the labels and answers with the label it finds most likely. Generative tasks: the base "
                     "model answers each prompt as it is. Trains nothing.")
