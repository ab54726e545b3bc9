"""Model registry: embedded model, tiny encoder/decoders, and the Hub path failing fast offline."""

import time

import pytest

from ftlab import models
from ftlab.config import RunConfig
from ftlab.errors import ModelError
from ftlab.train import train


def test_embedded_minilm_loads_with_a_fresh_head():
    tok = models.load_tokenizer("minilm")
    model = models.load_model("minilm", "classification", ["neg", "neu", "pos"], tok)
    assert model.config.model_type == "bert" and model.config.hidden_size == 384
    assert model.classifier.out_features == 3 and models.head_prefixes(model) == ("classifier",)


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
@pytest.mark.parametrize("dataset_fixture", ["keyword_csv", "names_conll"])
def test_decoders_train_for_both_tasks(name, dataset_fixture, request):
    data = request.getfixturevalue(dataset_fixture)
    events = []
    summary = train(RunConfig(model=name, dataset=data, method="lora", max_train=64, max_eval=32, batch_size=16,
                              max_steps=6), events.append)
    assert events[-1]["event"] == "finished" and summary["head_params"] > 0
    assert summary["trainable_params"] < summary["total_params"] / 10


def test_hub_id_offline_fails_fast_and_lists_what_is_available():
    config = RunConfig(model="bert-base-uncased", dataset="tweets-sentiment", method="lora")  # a valid name
    t0 = time.monotonic()
    with pytest.raises(ModelError) as info:
        train(config)
    assert time.monotonic() - t0 < 15
    message = str(info.value)
    assert "bert-base-uncased" in message and "unreachable" in message and "minilm" in message


def test_local_directory_model(tmp_path):
    """A model saved to a folder loads through the real from_pretrained path."""
    tok = models.load_tokenizer("tiny")
    model = models.load_model("tiny", "classification", ["a", "b"], tok)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    assert models.architecture_hint(str(tmp_path)) == "bert"
    again = models.load_model(str(tmp_path), "ner", ["O", "B-X", "I-X"], models.load_tokenizer(str(tmp_path)))
    assert again.classifier.out_features == 3


@pytest.fixture
def stub_hub(monkeypatch):
    """The Hub's model API: one model exists, every other id is not found (answered the way
    huggingface.co answers, with its X-Error-Code header)."""
    from hub_stub import hub_api

    from ftlab import hub

    def model_info(path, headers):
        if path.split("?")[0].startswith("/api/models/prajjwal1/bert-tiny"):
            return 200, {"id": "prajjwal1/bert-tiny", "modelId": "prajjwal1/bert-tiny", "sha": "0" * 40,
                         "private": False}, {}
        return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}

    with hub_api(model_info) as (url, asked):
        monkeypatch.setattr(hub, "_cache", {})
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", url)
        yield asked


def test_check_available_asks_the_hub_for_an_id_it_does_not_have(stub_hub, tmp_path):
    models.check_available("minilm")  # built-in: nothing asked
    assert stub_hub == []
    models.check_available("prajjwal1/bert-tiny")
    with pytest.raises(ModelError, match="'bert-base-uncasd' was not found on the Hugging Face Hub"):
        models.check_available("bert-base-uncasd")
    assert any("bert-base-uncasd" in p for p in stub_hub)
    with pytest.raises(ModelError, match="folder without config.json"):
        models.check_available(str(tmp_path))


def test_check_available_offline_refuses_with_the_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match=r"Hub is unreachable \(HF_HUB_OFFLINE is set\)"):
        models.check_available("bert-base-uncasd")
    assert time.perf_counter() - t0 < 5
