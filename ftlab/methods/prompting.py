"""Prompting a decoder: classification with no trained parameter, scored by log-likelihood.

- `few-shot`: an instruction naming the labels, then k labelled examples per class drawn from
  the train split with the run's seed, then the text; each label is scored by the model's
  log-likelihood of its words after the prompt, and the text gets the most likely label.
- `zero-shot` (registered in baseline.py) does the same with no examples on a decoder; on an
  encoder it compares embeddings instead.

No free text is generated or parsed: every label's continuation is scored. A batch of texts runs
once, which scores every label's first token; only labels of two or more tokens run a second,
short pass over each text's cache. The part of the prompt before the text (instruction,
examples) is the same for every text: it runs through the model once, and its key/value cache is
reused by every batch.

The module `apply` returns answers like a transformers classifier: `.logits` are the labels' log-
likelihoods (summed over each label's tokens), `.loss` their cross-entropy against the truth.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

from pydantic import Field

from ftlab.errors import ConfigError
from ftlab.methods import BASELINE_FULL, register_method
from ftlab.models import is_decoder, load_causal_lm
from ftlab.options import Options
from ftlab.tasks import get_task

INSTRUCTION = "Classify each text as one of: {labels}."
EXAMPLE = "Text: {text}\nAnswer: {label}"
INSTRUCTION_HELP = ("Decoders: the instruction that starts the prompt; {labels} becomes the label names, "
                    "comma-separated.")
EXAMPLE_HELP = ("Decoders: how one text and its answer are written, with {text} before {label}. The text to "
                "classify is written the same way, and each label is scored where {label} stands.")


class FewShotOptions(Options):
    shots: int = Field(4, ge=1, le=64, description="Labelled examples per class in the prompt (generative tasks: "
                       "solved examples in all), drawn from the train split with the run's seed (never from "
                       "validation or test).")
    instruction: str = Field(INSTRUCTION, description=INSTRUCTION_HELP)
    example: str = Field(EXAMPLE, description=EXAMPLE_HELP)
    example_chars: int = Field(400, ge=20, description="An example's text is cut to this many characters, so "
                               "long documents do not fill the prompt.")


def check_templates(instruction: str, example: str) -> str | None:
    if "{text}" not in example or "{label}" not in example or example.index("{text}") > example.index("{label}"):
        return "example must contain {text} and then {label}"
    if not example[example.index("{text}") + 6 : example.index("{label}")].strip():
        return "example needs words between {text} and {label} (e.g. '\\nAnswer: '), or the label runs into the text"
    if "{text}" in instruction or "{label}" in instruction:
        return "instruction takes {labels} only; the text goes in example"
    return None


def check_decoder(architecture: str) -> str | None:
    if not is_decoder(architecture):
        return ("prompting scores a decoder's continuation of the prompt; this model is an encoder "
                f"({architecture}), which cannot continue text: use zero-shot or a fine-tuning method")
    return None


def check_few_shot(options: FewShotOptions, task: str, architecture: str):
    if not get_task(task).labelled:
        return check_decoder(architecture)  # the templates name labels; the data has its own prompts
    return check_decoder(architecture) or check_templates(options.instruction, options.example)


def few_shot_examples(train, label_names, shots: int, seed: int) -> list[tuple[str, int]]:
    """`shots` (text, label) pairs per class from the train split, chosen and ordered by `seed`."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(train.labels):
        by_class.setdefault(label, []).append(i)
    picked = []
    for label in range(len(label_names)):
        pool = by_class.get(label, [])
        picked += rng.sample(pool, min(shots, len(pool)))
    rng.shuffle(picked)
    return [(train.texts[i], train.labels[i]) for i in picked]


def render_prefix(instruction: str, example: str, label_names, examples, example_chars: int) -> tuple[str, str, str]:
    """(prefix, tail, label lead): the prompt before the text (instruction, examples and the
    example template's words before {text}), the words after the text, and what comes before a
    label's name (the space in "Answer: {label}")."""
    names = [str(n).replace("_", " ") for n in label_names]
    head, rest = example.split("{text}", 1)
    between, after = rest.split("{label}", 1)
    tail = between.rstrip()
    lead = between[len(tail):]
    shots = "".join(head + " ".join(text[:example_chars].split()) + between + names[label] + after + "\n\n"
                    for text, label in examples)
    return instruction.replace("{labels}", ", ".join(names)) + "\n\n" + shots + head, tail, lead


def prompt_scorer(lm, tokenizer, label_names, prefix: str, tail: str, lead: str):
    import torch

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    prefix_ids, tail_ids = ids(prefix), ids(tail)
    label_ids = [ids(lead + str(n).replace("_", " ")) for n in label_names]
    if any(not row for row in label_ids) or len({tuple(r) for r in label_ids}) < len(label_ids):
        raise ConfigError("two labels tokenize the same (or to nothing): prompting cannot tell them apart")
    skip = set(tokenizer.all_special_ids) - set(prefix_ids + tail_ids)
    pad_id = tokenizer.pad_token_id or 0

    class PromptScorer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lm = lm
            self.cached = None  # (device, cache after the prefix, the prefix's last logits)

        def prefix_cache(self, device, n: int):
            """The prefix's keys and values, computed once per device, as a cache for n rows: the
            rows share one copy (expanded views) until the model appends to them."""
            from transformers import DynamicCache

            if self.cached is None or self.cached[0] != device:
                with torch.inference_mode():
                    out = self.lm(input_ids=torch.tensor([prefix_ids], device=device), use_cache=True)
                self.cached = (device, [(layer.keys, layer.values) for layer in out.past_key_values.layers])
            return DynamicCache(ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1))
                                                for k, v in self.cached[1]])

        def forward(self, input_ids, attention_mask=None, labels=None, **_):
            """Two passes: the texts once (after the cached prefix), which gives every label's first
            token; then only the labels of two or more tokens, continuing each text's cache."""
            from transformers import DynamicCache

            device = input_ids.device
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            queries = [[t for t, m in zip(row, mask) if m and t not in skip] + tail_ids
                       for row, mask in zip(input_ids.tolist(), attention_mask.tolist())]
            n, p, width = len(queries), len(prefix_ids), max(len(q) for q in queries)
            batch = torch.full((n, width), pad_id, dtype=torch.long)
            mask = torch.zeros((n, p + width), dtype=torch.long)
            mask[:, :p] = 1
            for r, query in enumerate(queries):
                batch[r, : len(query)] = torch.tensor(query)
                mask[r, p : p + len(query)] = 1
            out = self.lm.base_model(input_ids=batch.to(device), attention_mask=mask.to(device),
                                     position_ids=torch.arange(p, p + width).expand(n, width).to(device),
                                     past_key_values=self.prefix_cache(device, n), use_cache=True)
            head = self.lm.get_output_embeddings()
            last = out.last_hidden_state[torch.arange(n), torch.tensor([len(q) - 1 for q in queries])]
            first = head(last).float().log_softmax(-1)  # [n, vocab]: each label's first token
            scores = first[:, [answer[0] for answer in label_ids]]  # [n, labels]
            longer = [j for j, answer in enumerate(label_ids) if len(answer) > 1]
            if longer:
                k = len(longer)
                rest = max(len(label_ids[j]) - 1 for j in longer)
                cont = torch.full((n * k, rest), pad_id, dtype=torch.long)
                cont_mask = torch.cat([mask.repeat_interleave(k, 0), torch.zeros((n * k, rest), dtype=torch.long)], 1)
                positions = torch.zeros((n * k, rest), dtype=torch.long)
                for r, query in enumerate(queries):
                    for i, j in enumerate(longer):
                        feed = label_ids[j][:-1]  # tokens 0..m-2 predict tokens 1..m-1
                        cont[r * k + i, : len(feed)] = torch.tensor(feed)
                        cont_mask[r * k + i, p + width : p + width + len(feed)] = 1
                        positions[r * k + i] = torch.arange(p + len(query), p + len(query) + rest)
                cache = DynamicCache(ddp_cache_data=[(layer.keys.repeat_interleave(k, 0),
                                                      layer.values.repeat_interleave(k, 0))
                                                     for layer in out.past_key_values.layers])
                hidden = self.lm.base_model(input_ids=cont.to(device), attention_mask=cont_mask.to(device),
                                            position_ids=positions.to(device), past_key_values=cache,
                                            use_cache=True).last_hidden_state
                logp = head(hidden).float().log_softmax(-1)  # [n * k, rest, vocab]
                extra = torch.zeros((n, len(label_ids)), device=device)
                for r in range(n):
                    for i, j in enumerate(longer):
                        target = torch.tensor(label_ids[j][1:], device=device)
                        extra[r, j] = logp[r * k + i, torch.arange(len(target), device=device), target].sum()
                scores = scores + extra
            loss = None
            if labels is not None:
                loss = torch.nn.functional.cross_entropy(scores, labels)
            return SimpleNamespace(logits=scores, loss=loss)

    return PromptScorer()


def prompting(ctx, instruction: str, example: str, examples, example_chars: int):
    """The scorer for a run: the decoder with its language-model head, frozen."""
    lm = load_causal_lm(ctx.model_name, ctx.tokenizer, ctx.seed)
    for p in lm.parameters():
        p.requires_grad_(False)
    lm.eval()
    prefix, tail, lead = render_prefix(instruction, example, ctx.label_names, examples, example_chars)
    scorer = prompt_scorer(lm, ctx.tokenizer, ctx.label_names, prefix, tail, lead)
    scorer.prompt = prefix + "{text}" + tail + lead + "{label}"
    return scorer


def frozen(model):
    """The model as it is, trained by nothing and in evaluation mode (a generative task's prompting)."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def apply_few_shot(model, options: FewShotOptions, ctx):
    if ctx.train is None:
        raise ConfigError("few-shot prompting needs the run's train split to draw its examples from")
    if not get_task(ctx.task).labelled:
        # A generative task: `shots` solved train examples go before every prompt, as earlier
        # turns of the conversation (the engine writes them in: Task.with_examples).
        picked = random.Random(ctx.seed).sample(range(len(ctx.train)), min(options.shots, len(ctx.train)))
        model = frozen(model)
        model.prompt_examples = [(ctx.train.texts[i], ctx.train.labels[i]) for i in picked]
        return model
    examples = few_shot_examples(ctx.train, ctx.label_names, options.shots, ctx.seed)
    return prompting(ctx, options.instruction, options.example, examples, options.example_chars)


register_method("few-shot", FewShotOptions, apply_few_shot, default_lr=1e-3, family="prompting", trains=False,
                quantized=(), quantized_why=BASELINE_FULL,
                tasks={"classification", "sft"}, check=check_few_shot, reads_train=True,
                help="Prompting, no training: a decoder reads an instruction, k labelled examples per class from "
                     "the train split (chosen by seed) and the text, and the label it finds most likely wins. "
                     "Decoders only.")
