"""Supervised fine-tuning of a decoder on prompt/answer data, scored by exact match on what it
generates.

An example is a conversation up to the answer (a list of {"role", "content"} turns, the last a
user turn) and the answer's text. It is written with the tokenizer's own chat template where the
model has one (SmolLM2-Instruct does), else with a plain "### Instruction / ### Response"
template; the loss counts the answer's tokens and the end-of-turn token only: every prompt token
carries the label IGNORE.

Evaluation generates: batched greedy decoding with the key/value cache, left-padded prompts,
`max_new_tokens` and stop strings; the answer is read from each generation and each reference by
the dataset's rule (ftlab.tasks.answers) and `accuracy` is the exact-match rate, beside token F1.
Every test example's prompt, reference, generation, extracted answers and verdict come back with
the scores (the store keeps them; the Run tab shows them).
"""

from __future__ import annotations

from typing import Optional

from ftlab.tasks import IGNORE, Encoded, GenerationSettings, Task, register_task, token_labels
from ftlab.tasks import answer_end_id as end_id
from ftlab.tasks.answers import extract, token_f1

PLAIN_USER = "### Instruction:\n{content}\n\n"
PLAIN_SYSTEM = "{content}\n\n"
PLAIN_ASSISTANT = "### Response:\n"
PREDICT_MAX_NEW_TOKENS = 128  # the Playground's and the API's default length of an answer


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render(tokenizer, messages: list[dict], answer: Optional[str] = None) -> tuple[str, str]:
    """(prompt text, answer text): what the model reads before answering, and the answer as it is
    written after the prompt (with the template's end of turn)."""
    if has_chat_template(tokenizer):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if answer is None:
            return prompt, ""
        full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
        return prompt, answer + (tokenizer.eos_token or "")  # a template that rewrites earlier turns
    parts = []
    for turn in messages:
        if turn["role"] == "assistant":
            parts.append(PLAIN_ASSISTANT + turn["content"] + "\n\n")
        else:
            parts.append((PLAIN_SYSTEM if turn["role"] == "system" else PLAIN_USER).format(content=turn["content"]))
    return "".join(parts) + PLAIN_ASSISTANT, "" if answer is None else answer


def question(messages: list[dict]) -> str:
    """The last user turn: how the stored generations and the Playground name an example."""
    return next((t["content"] for t in reversed(messages) if t["role"] == "user"), "")


def encode(split, tokenizer, max_length: int) -> Encoded:
    """Prompt then answer then the end token, cut at max_length (training's memory bound); labels
    IGNORE on the prompt. The whole prompt is kept apart for generation, which max_length does not cut."""
    rendered = [render(tokenizer, messages, answer) for messages, answer in zip(split.texts, split.labels)]
    prompt_ids = tokenizer([p for p, _ in rendered], add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer([a for _, a in rendered], add_special_tokens=False)["input_ids"]
    end = end_id(tokenizer)
    input_ids, labels = [], []
    for p, a in zip(prompt_ids, answer_ids):
        # The answer ends on the end token: the template's end of turn (what follows it, a newline,
        # is never generated), else one added.
        a = a[:a.index(end) + 1] if end in a else a + [end]
        input_ids.append((p + a)[:max_length])
        labels.append(([IGNORE] * len(p) + a)[:max_length])
    return Encoded(input_ids, labels, prompts=[question(m) for m in split.texts], references=list(split.labels),
                   prompt_ids=prompt_ids)


def answered(encoded: Encoded) -> list[int]:
    """Indices of the examples that keep at least one answer token after max_length (the others
    teach nothing: their whole answer is cut)."""
    return [i for i, labels in enumerate(encoded.labels) if any(label != IGNORE for label in labels)]


def with_examples(split, examples: list) -> object:
    """The split with solved examples as earlier turns of every conversation (few-shot prompting)."""
    turns = [turn for messages, answer in examples
             for turn in list(messages) + [{"role": "assistant", "content": answer}]]
    return type(split)([turns + list(messages) for messages in split.texts], list(split.labels))


def generate(model, tokenizer, encoded: Encoded, settings: GenerationSettings, device, autocast,
             on_progress=None) -> list[str]:
    """Greedy continuations of every example's prompt, in batches of similar length."""
    return generate_ids(model, tokenizer, encoded.prompt_ids, settings, device, autocast, on_progress)


def end_ids(model, tokenizer) -> list[int]:
    """Every token that ends an answer: the tokenizer's end (end_id) and the ends the model's own
    generation config names (Llama 3's and Gemma's end-of-turn tokens beside end of sequence)."""
    ids = [end_id(tokenizer)]
    own = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in own if isinstance(own, (list, tuple)) else [own]:
        if value is not None and int(value) not in ids:
            ids.append(int(value))
    return ids


def stops(tokenizer, settings: GenerationSettings) -> tuple:
    """The stop strings of a generation: the run's, and on the plain template the next
    instruction's header (a base model without a chat template runs on into another turn)."""
    return tuple(settings.stop) + (() if has_chat_template(tokenizer) else (PLAIN_USER.split("{")[0].strip(),))


def stop_criteria(tokenizer, stop: tuple, start: int):
    """A stopping criterion that ends each row once its new text (the tokens after position
    `start`) holds a stop string: each step decodes only the last few tokens of each row, so it
    costs microseconds (transformers' `stop_strings` embeds the whole vocabulary on every
    `generate` call: most of a short evaluation's time on a small model). None without stops."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    if not stop:
        return None
    tail = max(len(s) for s in stop) + 8  # tokens: no token is shorter than one character

    class StopOnText(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            new = input_ids[:, start:]
            done = [any(s in tokenizer.decode(row[-tail:].tolist(), skip_special_tokens=True) for s in stop)
                    for row in new]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnText()])


def position_limit(model) -> Optional[int]:
    config = getattr(model, "config", None)
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


def generate_ids(model, tokenizer, prompts: list[list[int]], settings: GenerationSettings, device, autocast,
                 on_progress=None) -> list[str]:
    import torch
    from transformers import GenerationConfig

    ends = end_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ends[0]
    stop = stops(tokenizer, settings)
    config = GenerationConfig(max_new_tokens=settings.max_new_tokens, do_sample=False, num_beams=1,
                              eos_token_id=ends, pad_token_id=pad)
    limit = position_limit(model)
    if limit:  # a prompt longer than the model reads keeps its end (the question and the answer cue)
        prompts = [p[-max(1, limit - settings.max_new_tokens):] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list = [""] * len(prompts)
    done = 0
    model.eval()
    shared = shared_prefix(model, prompts)
    cache = prefix_cache(model, prompts[0][:shared], device, autocast) if shared else None
    for start in range(0, len(order), settings.batch_size):
        idx = order[start:start + settings.batch_size]
        # [the shared prefix][left padding][the rest of each prompt]: the rows still end where
        # generation starts, and the prefix's keys and values come from the cache
        width = max(1, max(len(prompts[i]) - shared for i in idx))
        ids = torch.full((len(idx), shared + width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), shared + width), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :shared] = torch.tensor(prompts[i][:shared], dtype=torch.long)
            mask[r, :shared] = 1
            rest = prompts[i][shared:]
            if rest:
                ids[r, shared + width - len(rest):] = torch.tensor(rest)
                mask[r, shared + width - len(rest):] = 1
        extra = {"past_key_values": expanded(cache, len(idx))} if cache is not None else {}
        with torch.inference_mode(), autocast:
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                       generation_config=config,
                                       stopping_criteria=stop_criteria(tokenizer, stop, shared + width), **extra)
        for r, i in enumerate(idx):
            new = generated[r, shared + width:].tolist()
            first_end = min((new.index(e) for e in ends if e in new), default=len(new))
            out[i] = cut_at_stop(tokenizer.decode(new[:first_end], skip_special_tokens=True), stop)
        done += len(idx)
        if on_progress is not None:
            on_progress(done, len(prompts))
    return out


MIN_SHARED = 16  # tokens every prompt must share before their keys and values are computed once


def shared_prefix(model, prompts: list[list[int]]) -> int:
    """How many leading tokens every prompt shares (a system prompt, an instruction, few-shot
    examples), keeping at least one token of each prompt outside it; 0 when that is short, or
    when the model puts learned tokens before every input (prompt learning: the cache would hold
    the prefix without them)."""
    if not prompts or getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False):
        return 0
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        n = min(n, next((k for k, (a, b) in enumerate(zip(first, p)) if a != b), n))
    return n if n >= MIN_SHARED else 0


def prefix_cache(model, prefix: list[int], device, autocast):
    """The key/value cache of the shared prefix, computed once for a whole evaluation."""
    import torch

    with torch.inference_mode(), autocast:
        return model(input_ids=torch.tensor([prefix], device=device), use_cache=True).past_key_values


def expanded(cache, n: int):
    """A copy of a one-row cache for n rows (expanded views: the rows share the prefix's memory
    until generation appends to them)."""
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=[(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1))
                                        for layer in cache.layers])


def cut_at_stop(text: str, stop) -> str:
    """The text before the first stop string."""
    for s in stop:
        if s and s in text:
            text = text[:text.index(s)]
    return text.strip()


def score(generations: list[str], encoded: Encoded, settings: GenerationSettings) -> dict:
    """Exact match of the extracted answers (accuracy) and their token F1, with each example's row."""
    rows, hits, f1 = [], 0, 0.0
    for i, (generation, reference) in enumerate(zip(generations, encoded.references)):
        got, want = extract(generation, settings.rule), extract(reference, settings.rule)
        correct = bool(want) and got == want
        hits += correct
        f1 += token_f1(got, want)
        if settings.keep is None or i < settings.keep:
            rows.append({"index": i, "prompt": encoded.prompts[i], "reference": reference, "generation": generation,
                         "extracted": got, "expected": want, "correct": correct})
    n = max(len(generations), 1)
    return {"accuracy": hits / n, "token_f1": f1 / n, "generations": rows}


def _ask(model, tokenizer, text: str, max_length: int) -> list[int]:
    """A user's text as one user turn after the run's own examples (few-shot prompting), with the
    run's template; never cut by max_length (evaluation does not cut prompts either)."""
    turns = [turn for messages, answer in getattr(model, "prompt_examples", None) or []
             for turn in list(messages) + [{"role": "assistant", "content": answer}]]
    prompt = render(tokenizer, turns + [{"role": "user", "content": text}])[0]
    return tokenizer(prompt, add_special_tokens=False)["input_ids"]


def _settings(model, n: int) -> GenerationSettings:
    """How a trained run answers raw text: as its evaluation did (the settings its artifacts keep,
    ftlab.train.artifacts), else PREDICT_MAX_NEW_TOKENS tokens."""
    import dataclasses

    own = getattr(model, "generation_settings", None)
    if own is None:
        return GenerationSettings(max_new_tokens=PREDICT_MAX_NEW_TOKENS, rule="normalized", batch_size=max(1, n))
    return dataclasses.replace(own, batch_size=max(1, n))


def predict(model, tokenizer, texts: list[str], max_length: int, label_names: list) -> list[dict]:
    """The answer to each text, asked as one user turn with the run's template."""
    import torch

    prompts = [_ask(model, tokenizer, text, max_length) for text in texts]
    device = next(model.parameters()).device
    answers = generate_ids(model, tokenizer, prompts, _settings(model, len(texts)), device,
                           torch.autocast(device.type, enabled=False))
    return [{"generation": a} for a in answers]


def stream(model, tokenizer, text: str, max_length: int):
    """The greedy answer to `text` as it grows: yields the text so far after each new piece (the
    tokens `predict` gives, decoded as they come, cut at the run's stop strings). A failure of the
    generation is raised here, after the pieces written before it."""
    import threading

    import torch
    from transformers import GenerationConfig, TextIteratorStreamer

    device = next(model.parameters()).device
    settings = _settings(model, 1)
    prompt = _ask(model, tokenizer, text, max_length)
    limit = position_limit(model)
    if limit:
        prompt = prompt[-max(1, limit - settings.max_new_tokens):]
    ids = torch.tensor([prompt], device=device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
    ends = end_ids(model, tokenizer)
    stop = stops(tokenizer, settings)
    config = GenerationConfig(max_new_tokens=settings.max_new_tokens, do_sample=False, num_beams=1, eos_token_id=ends,
                              pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ends[0])
    failed = []

    def work():
        try:
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config,
                               streamer=streamer, stopping_criteria=stop_criteria(tokenizer, stop, ids.shape[1]))
        except BaseException as err:  # noqa: BLE001 - handed to the reader below
            failed.append(err)
            streamer.end()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    so_far = ""
    for piece in streamer:
        so_far += piece
        yield cut_at_stop(so_far, stop)
    worker.join()
    if failed:
        raise failed[0]


register_task(Task(
    name="sft",
    description="supervised fine-tuning of a decoder: generate the answer to a prompt, scored by exact match",
    per_token=False,
    primary="accuracy",
    primary_title="exact match",
    metrics=("accuracy", "token_f1"),
    auto_class="AutoModelForCausalLM",
    peft_task_type="CAUSAL_LM",
    pipeline="text-generation",
    card_metrics=(("exact_match", "accuracy", "Test exact match"), ("f1", "token_f1", "Test token F1")),
    encode=encode,
    batch_labels=token_labels,
    score=score,
    predict=predict,
    generate=generate,
    stream=stream,
    needs_decoder=True,
    with_examples=with_examples,
    labelled=False,
    trainable_rows=answered,
    # 400 examples, one epoch, LoRA: minutes on SmolLM2 on 2 CPU cores; 150 test answers written
    launch_defaults={"max_train": 400, "max_eval": 150, "eval_every": 0, "batch_size": 8, "model": "smollm2"},
))
