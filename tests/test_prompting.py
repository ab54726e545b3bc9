"""Prompting a decoder (zero-shot, few-shot): scores by label log-likelihood, prefix cache reused."""

import pytest
import torch

from ftlab import models
from ftlab.config import RunConfig
from ftlab.data import load_dataset
from ftlab.errors import ConfigError
from ftlab.methods import MethodContext, get_method, prompting
from ftlab.train import train


def _ctx(tok, labels, train_split=None, seed=0):
    return MethodContext("classification", "llama", ("score",), 0, tuple(labels), (), tok, "tiny-llama", seed,
                         train_split)


def test_label_log_likelihood_equals_a_hand_computation():
    tok = models.load_tokenizer("tiny-llama")
    labels = ["good", "bad movie"]  # one label of two words: every token counts
    scorer = get_method("zero-shot").apply(None, get_method("zero-shot").options_cls(), _ctx(tok, labels))
    texts = ["the plot was fine", "a long and dull film with actors"]
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        got = scorer(**enc).logits

    lm = models.load_causal_lm("tiny-llama", tok, 0).eval()  # the same seed: the same random weights
    prefix, tail, lead = prompting.render_prefix(prompting.INSTRUCTION, prompting.EXAMPLE, labels, [], 0)

    def ids(s):
        return tok(s, add_special_tokens=False)["input_ids"]

    for i, text in enumerate(texts):
        for j, label in enumerate(labels):
            context = ids(prefix) + ids(text) + ids(tail)
            answer = ids(lead + label)
            with torch.no_grad():
                logp = lm(input_ids=torch.tensor([context + answer])).logits[0].log_softmax(-1)
            want = sum(float(logp[len(context) + k - 1, a]) for k, a in enumerate(answer))
            assert got[i, j].item() == pytest.approx(want, abs=1e-4)


def test_prompting_runs_are_deterministic_and_train_nothing(keyword_csv):
    results = []
    for _ in range(2):
        events = []
        summary = train(RunConfig(model="tiny-llama", dataset=keyword_csv, method="few-shot", max_train=64,
                                  max_eval=24, batch_size=8, method_options={"shots": 2}), events.append)
        prompt = [e["message"] for e in events if e["event"] == "log" and e["message"].startswith("prompt: ")]
        results.append((summary["accuracy"], summary["eval_loss"], prompt))
        assert summary["trainable_params"] == 0 and summary["stopped_reason"] == "baseline"
    assert results[0] == results[1] and results[0][2]  # the prompt is recorded with the run


def test_few_shot_examples_come_from_train_and_change_with_the_seed():
    data = load_dataset("tweets-sentiment", max_train=300)
    picks = {seed: prompting.few_shot_examples(data.train, data.label_names, 4, seed) for seed in (0, 1)}
    for examples in picks.values():
        assert len(examples) == 12 and sorted(label for _, label in examples) == [0] * 4 + [1] * 4 + [2] * 4
        assert all(text in data.train.texts for text, _ in examples)
        assert not {text for text, _ in examples} & set(data.test.texts) & set(data.validation.texts)
    assert picks[0] != picks[1]
    assert picks[0] == prompting.few_shot_examples(data.train, data.label_names, 4, 0)


def test_encoders_refuse_few_shot_with_the_reason():
    with pytest.raises(ConfigError, match="encoder"):
        RunConfig(model="minilm", dataset="tweets-sentiment", method="few-shot")
    with pytest.raises(ConfigError, match="classification"):
        RunConfig(model="tiny-llama", dataset="zh-ner", method="few-shot")


def test_a_template_without_room_for_the_label_is_refused():
    with pytest.raises(ConfigError, match=r"\{text\} and then \{label\}"):
        RunConfig(model="tiny-llama", dataset="tweets-sentiment", method="few-shot",
                  method_options={"example": "{label}: {text}"})
