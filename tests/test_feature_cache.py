"""Head-only training on a frozen body's cached features."""

import pytest
import torch

from ftlab import models
from ftlab.config import RunConfig
from ftlab.data import load_dataset
from ftlab.train import feature_cache, train
from ftlab.train.batching import collate, encode


def _logs(events):
    return [e["message"] for e in events if e["event"] == "log"]


@pytest.fixture(autouse=True)
def cold_cache(tmp_path, monkeypatch):
    """Each test starts from an empty feature cache (earlier tests fill the session's with the same
    tiny model and texts)."""
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))


def test_cached_features_answer_as_the_model_does_in_eval_mode(names_conll, keyword_csv):
    for spec, task in ((keyword_csv, "classification"), (names_conll, "ner")):
        data = load_dataset(spec, max_train=40, max_eval=20)
        tok = models.load_tokenizer("tiny")
        model = models.load_model("tiny", task, data.label_names, tok).eval()
        enc = encode(data.test, task, tok, 64)
        features, computed = feature_cache.compute(model, model.classifier, [enc], task, tok.pad_token_id, "cpu", 8,
                                                   "tiny")
        assert computed == len(set(map(tuple, enc.input_ids)))
        cached = feature_cache.CachedHead(model, model.classifier, features, task, 0.1).eval()
        batch = collate(enc, list(range(8)), tok.pad_token_id, task, multiple=1)
        with torch.no_grad():
            want = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            got = cached(**batch).logits
        if task == "ner":  # pad positions are never scored
            keep = batch["attention_mask"].bool()
            want, got = want[keep], got[keep]
        assert torch.allclose(want, got, atol=1e-5)


def test_a_second_head_run_reads_the_features_and_trains_the_same(keyword_csv):
    config = RunConfig(model="tiny", dataset=keyword_csv, method="head", max_train=120, max_eval=40, batch_size=16,
                       epochs=2, lr=5e-2)
    first, second = [], []
    a = train(config, first.append)
    b = train(config, second.append)
    assert any("0 texts from the cache" in m for m in _logs(first))
    assert any("0 computed now" in m for m in _logs(second))
    assert a["accuracy"] == b["accuracy"] and a["loss"] == b["loss"]
    assert a["trainable_params"] == a["head_params"]
    # throughput would time the head alone on cached vectors: not reported, so no chart compares it
    assert "eval_samples_per_s" not in b and "train_samples_per_s" not in b and b["features_cached"] > 0
    # A head over a trained pooler reads the body every time: no cache.
    events = []
    train(config.replace(method_options={"train_pooler": True}), events.append)
    assert not any("frozen body" in m for m in _logs(events))
