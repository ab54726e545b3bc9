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
