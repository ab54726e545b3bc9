"""The on-disk cache of tokenized splits: same result as tokenizing, hit only for the same split,
tokenizer and max_length, robust to a damaged file, and off when asked."""

import copy

import pytest

from ftlab import data, models
from ftlab.train import batching, token_cache
from ftlab.tasks import IGNORE


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    return tmp_path / "tokens"


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("tiny")


def files(cache):
    return sorted(p.name for p in cache.glob("*.npz")) if cache.exists() else []


@pytest.mark.parametrize("fixture", ["keyword_csv", "names_conll"])
def test_cached_equals_tokenized_and_is_reused(fixture, request, cache, tokenizer, monkeypatch):
    loaded = data.load_dataset(request.getfixturevalue(fixture))
    expected = [batching.encode(s, loaded.task, tokenizer, 32) for s in (loaded.train, loaded.test)]
    first = [token_cache.encode_cached(s, loaded.task, loaded.label_names, tokenizer, 32)
             for s in (loaded.train, loaded.test)]
    assert len(files(cache)) == 2
    calls = []
    monkeypatch.setattr(token_cache, "encode", lambda *a: calls.append(a))  # a hit must not tokenize
    again = [token_cache.encode_cached(s, loaded.task, loaded.label_names, tokenizer, 32)
             for s in (loaded.train, loaded.test)]
    assert calls == []
    for e, f, a in zip(expected, first, again):
        assert e.input_ids == f.input_ids == a.input_ids and e.labels == f.labels == a.labels
    if loaded.task == "ner":  # special tokens and later sub-words keep their ignored label through the cache
        assert any(t == IGNORE for t in again[0].labels[0])


def test_key_changes_with_content_length_and_tokenizer(keyword_csv, cache, tokenizer):
    loaded = data.load_dataset(keyword_csv)
    small = data.load_dataset(keyword_csv, max_train=50)
    token_cache.encode_cached(loaded.train, loaded.task, loaded.label_names, tokenizer, 32)
    token_cache.encode_cached(small.train, small.task, small.label_names, tokenizer, 32)  # other content
    token_cache.encode_cached(loaded.train, loaded.task, loaded.label_names, tokenizer, 16)  # other max_length
    assert len(files(cache)) == 3
    truncated = token_cache.encode_cached(loaded.train, loaded.task, loaded.label_names, tokenizer, 16)
    assert max(truncated.lengths()) <= 16
    grown = copy.deepcopy(tokenizer)
    before_growth = token_cache.tokenizer_identity(grown)
    grown.add_tokens(["wonderfulness"])
    assert token_cache.tokenizer_identity(grown) != before_growth  # a changed tokenizer is another key
    token_cache.encode_cached(loaded.train, loaded.task, loaded.label_names, grown, 32)
    assert len(files(cache)) == 4
    # validation and test do not depend on max_train: a smaller run reuses their entries
    before = len(files(cache))
    token_cache.encode_cached(small.test, small.task, small.label_names, tokenizer, 32)
    token_cache.encode_cached(loaded.test, loaded.task, loaded.label_names, tokenizer, 32)
    assert len(files(cache)) == before + 1


def test_damaged_file_is_replaced_and_off_means_off(keyword_csv, cache, tokenizer, monkeypatch):
    loaded = data.load_dataset(keyword_csv)
    token_cache.encode_cached(loaded.test, loaded.task, loaded.label_names, tokenizer, 32)
    [path] = cache.glob("*.npz")
    path.write_bytes(b"not an npz file")
    again = token_cache.encode_cached(loaded.test, loaded.task, loaded.label_names, tokenizer, 32)
    assert again.input_ids == batching.encode(loaded.test, loaded.task, tokenizer, 32).input_ids
    assert path.read_bytes()[:2] == b"PK"  # rewritten as a real archive
    monkeypatch.setenv("FTLAB_CACHE", "off")
    assert token_cache.cache_dir() is None
    path.unlink()
    token_cache.encode_cached(loaded.test, loaded.task, loaded.label_names, tokenizer, 32)
    assert files(cache) == []
