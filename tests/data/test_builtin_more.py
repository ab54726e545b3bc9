"""The built-ins added after the first three: WNUT 2016 NER, BBC News topics and the four VADER
sentiment domains (fetched from a source archive: tested on a small archive built here, offline,
and once against PyPI when it can be reached)."""

import io
import os
import socket
import tarfile
import time
from collections import Counter

import pytest

from ftlab.data import builtin, infer_task, list_datasets, load_dataset, vader
from ftlab.errors import DataError

NEW = ("wnut16-ner", "bbc-news", "sentiment-tweets", "sentiment-movies", "sentiment-products", "sentiment-news")


def _all(data):
    return (data.train.texts + data.validation.texts + data.test.texts,
            data.train.labels + data.validation.labels + data.test.labels)


def _check_capped_load(name):
    """max_train caps train only; every split is non-empty; two loads give one fingerprint."""
    first = load_dataset(name, max_train=200)
    assert len(first.train) == 200 and len(first.validation) > 0 and len(first.test) > 0
    assert load_dataset(name, max_train=200).fingerprint == first.fingerprint
    return first


def test_new_builtins_are_listed_with_their_task_and_a_full_description():
    infos = {d.name: d for d in list_datasets()}
    assert set(NEW) <= set(infos)
    assert infos["wnut16-ner"].task == "ner" and infer_task("wnut16-ner") == "ner"
    for name in NEW[1:]:
        assert infos[name].task == "classification" == infer_task(name)
    for name in NEW:
        text = infos[name].description
        assert "license" in text.lower() or "MIT" in text, name
        assert any(ch.isdigit() for ch in text), name  # states its size


# ---------------------------------------------------------------- WNUT 2016


def test_wnut16_sizes_tags_and_a_known_tweet():
    data = load_dataset("wnut16-ner")
    assert data.task == "ner"
    types = ["person", "geo-loc", "company", "facility", "product", "musicartist", "sportsteam", "movie", "tvshow", "other"]
    assert data.label_names == ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    sentences, tags = _all(data)
    # 2,394 tweets / 46,469 tokens in the file; 99 repeats dropped -> 2,295 / 44,486.
    assert len(sentences) == 2295 and sum(map(len, sentences)) == 44486
    assert len({tuple(s) for s in sentences}) == len(sentences)
    entities = Counter(data.label_names[t][2:] for row in tags for t in row if data.label_names[t].startswith("B-"))
    assert entities["person"] == 433 and entities["tvshow"] == 33 and sum(entities.values()) == 1428
    i = sentences.index(["@paulwalk", "It", "'s", "the", "view", "from", "where", "I", "'m", "living", "for", "two",
                         "weeks", ".", "Empire", "State", "Building", "=", "ESB", ".", "Pretty", "bad", "storm", "here",
                         "last", "evening", "."])
    named = [(w, data.label_names[t]) for w, t in zip(sentences[i], tags[i]) if t]
    assert named == [("Empire", "B-facility"), ("State", "I-facility"), ("Building", "I-facility"), ("ESB", "B-facility")]
    assert "WNUT 2016" in data.source
    _check_capped_load("wnut16-ner")


def test_token_tag_parser_splits_on_tab_lines_and_refuses_unknown_tags():
    text = "Paris\tB-geo-loc\nis\tO\n\t\nhi\tO\n"
    assert builtin.parse_token_tag_lines(text, builtin.WNUT16_TAGS, "t") == [(["Paris", "is"], [3, 0]), (["hi"], [0])]
    with pytest.raises(DataError, match="line 2"):
        builtin.parse_token_tag_lines("a\tO\nb\tB-LOC\n", builtin.WNUT16_TAGS, "t")


# ---------------------------------------------------------------- BBC News


def test_bbc_news_sizes_classes_and_the_latin1_article():
    data = load_dataset("bbc-news")
    assert data.label_names == ["business", "entertainment", "politics", "sport", "tech"]
    texts, labels = _all(data)
    # 2,225 files, 100 repeats (98 exact, 2 differing in paragraph breaks) dropped.
    assert len(texts) == 2125 and len(set(texts)) == 2125
    assert Counter(data.label_names[y] for y in labels) == {
        "business": 503, "entertainment": 369, "politics": 403, "sport": 503, "tech": 347}
    # sports/199.txt is the one file that is not utf-8: its "£" is a latin-1 byte.
    mutu = [t for t in texts if t.startswith("Chelsea sack Mutu\n")]
    assert len(mutu) == 1 and "a £15.8m signing from Parma" in mutu[0] and "\ufffd" not in mutu[0]
    assert labels[texts.index(mutu[0])] == data.label_names.index("sport")
    first = [t for t in texts if t.startswith("Ad sales boost Time Warner profit\nQuarterly profits at US media giant")]
    assert len(first) == 1 and labels[texts.index(first[0])] == 0  # business
    assert all("\n\n" not in t and "  " not in t for t in texts)
    _check_capped_load("bbc-news")


# ---------------------------------------------------------------- VADER ground truth


@pytest.fixture
def fresh_sentiment(monkeypatch, tmp_path):
    """A cache of its own, no archive set by the environment, and no parse remembered from
    another test (the loader is lru_cache'd per process)."""
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(vader.SDIST_ENV, raising=False)
    builtin.sentiment.cache_clear()
    yield tmp_path / "cache" / "data" / "vadersentiment-3.3.2"
    builtin.sentiment.cache_clear()


def _tar_gz(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


TWEETS = (
    "1\t2.7\tSo lucky to have friends like you &amp; yours.\r\n"
    "2\t-1.5\tRunning late sucks.\r\n"
    "3\t0.5\tThe bus comes at   nine.\r\n"  # on the border: neutral
    "4\t-0.51\tMeh, not great.\r\n"
    "5\t3.0\tBest day ever!\r\n"
    "6\t1.0\tSo lucky to have friends like you & yours.\r\n"  # the text of 1 again: mean 1.85
    "7\t-2.0\tI hate Mondays.\r\n"
    "8\t0.0\tIt is Tuesday.\r\n"
    "9\t1.2\tNice weather.\r\n"
    "10\t-3.1\tWorst service ever.\r\n"
    "11\t2.2\tLoving this song.\r\n"
    "12\t-0.2\tThe meeting moved to three."  # no newline at the end, as in the real files
)


def _sdist(tmp_path, ground_truth: dict) -> str:
    inner = _tar_gz({f"hutto_ICWSM_2014/{k}": v.encode() for k, v in ground_truth.items()}
                    | {"hutto_ICWSM_2014/_README_.txt": b"readme", "hutto_ICWSM_2014/vaderSentiment.py": b"x = 1"})
    path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    path.write_bytes(_tar_gz({"vaderSentiment-3.3.2/PKG-INFO": b"Name: vaderSentiment",
                              "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz": inner}))
    return str(path)


def test_sentiment_from_a_small_source_archive(fresh_sentiment, tmp_path, monkeypatch):
    sdist = _sdist(tmp_path, {"tweets_GroundTruth.txt": TWEETS, "movieReviewSnippets_GroundTruth.txt": "1\t-2\tDull.\n"})
    monkeypatch.setenv(vader.SDIST_ENV, sdist)
    monkeypatch.setattr(vader, "download", lambda dest: pytest.fail("downloaded although an archive was given"))
    rows = vader.load("tweets")
    assert rows[0] == ("So lucky to have friends like you & yours.", pytest.approx(1.85))
    assert len(rows) == 11 and rows[2] == ("The bus comes at nine.", 0.5)
    labels = [vader.LABELS[vader.sentiment_label(r)] for _, r in rows]
    assert labels[:4] == ["positive", "negative", "neutral", "negative"]
    # Only the ground-truth files are kept, and no archive is left in the cache.
    kept = sorted(p.name for p in fresh_sentiment.rglob("*") if p.is_file())
    assert kept == ["movieReviewSnippets_GroundTruth.txt", "tweets_GroundTruth.txt"]

    data = load_dataset("sentiment-tweets")
    assert data.label_names == ["negative", "neutral", "positive"] and len(_all(data)[0]) == 11
    assert "tweets_GroundTruth.txt" in data.source
    again = load_dataset("sentiment-tweets", max_train=200)
    assert again.fingerprint == load_dataset("sentiment-tweets", max_train=200).fingerprint
    # A domain the archive lacks is a one-line error, not a traceback.
    with pytest.raises(DataError, match="nytEditorialSnippets_GroundTruth.txt is missing"):
        load_dataset("sentiment-news")


def test_sentiment_offline_is_one_line_data_error_within_seconds(fresh_sentiment, tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on: every connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no mirror or find-links from pip.conf
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple/")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    t0 = time.monotonic()
    with pytest.raises(DataError) as err:
        load_dataset("sentiment-movies")
    assert time.monotonic() - t0 < 30
    message = str(err.value)
    assert "\n" not in message
    assert "could not download the vadersentiment==3.3.2 source archive" in message
    assert "pip download --no-deps --no-binary :all: vadersentiment==3.3.2" in message and vader.SDIST_ENV in message
    assert not any(fresh_sentiment.rglob("*")), "a failed fetch left files in the cache"


def test_sentiment_bad_archive_settings_are_one_line_errors(fresh_sentiment, tmp_path, monkeypatch):
    monkeypatch.setenv(vader.SDIST_ENV, str(tmp_path / "nowhere.tar.gz"))
    with pytest.raises(DataError, match="is not a file"):
        load_dataset("sentiment-news")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    monkeypatch.setenv(vader.SDIST_ENV, str(junk))
    with pytest.raises(DataError, match="cannot read") as err:
        load_dataset("sentiment-news")
    assert "\n" not in str(err.value)
    wheel_like = tmp_path / "wheel-like.tar.gz"
    wheel_like.write_bytes(_tar_gz({"vaderSentiment/vaderSentiment.py": b""}))
    monkeypatch.setenv(vader.SDIST_ENV, str(wheel_like))
    with pytest.raises(DataError, match="has no additional_resources"):
        load_dataset("sentiment-news")


def test_listing_and_task_inference_never_fetch(monkeypatch):
    monkeypatch.setattr(vader, "download", lambda dest: pytest.fail("fetched while listing"))
    assert {"sentiment-movies", "sentiment-news"} <= {d.name for d in list_datasets()}
    assert infer_task("sentiment-products") == "classification"


def test_ground_truth_parse_averages_repeats_and_decodes_entities():
    rows = vader.parse_ground_truth("a\t1\tx &amp;amp; y\r\nb\t-1\t x & y \nc\t2\tz")
    assert rows == [("x & y", 0.0), ("z", 2.0)]
    with pytest.raises(DataError, match="line 1"):
        vader.parse_ground_truth("no tabs here")


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _pypi_reachable(), reason="needs the network: the data is fetched from PyPI (vadersentiment "
                                                  "3.3.2's source archive), which this machine cannot reach")
def test_sentiment_real_archive_sizes_and_classes(fresh_sentiment):
    """The real fetch (pip download, ~2 s with a warm pip cache): all four domains come from one
    archive. Counts are after de-duplication, split at -0.5 / 0.5 (see vader.py)."""
    expected = {
        "sentiment-tweets": (1062, 838, 2300),
        "sentiment-movies": (5060, 562, 4981),
        "sentiment-products": (1216, 763, 1718),
        "sentiment-news": (1662, 2371, 1085),
    }
    for name, counts in expected.items():
        data = load_dataset(name)
        texts, labels = _all(data)
        assert tuple(Counter(labels)[i] for i in range(3)) == counts, name
        assert len(set(texts)) == len(texts)
        _check_capped_load(name)
    movies = dict(zip(*_all(load_dataset("sentiment-movies"))))
    assert movies["Effective but too tepid biopic"] == 0  # rated -0.6
    assert movies["Light, cute and forgettable."] == 1  # 0.47
    assert movies[next(t for t in movies if t.startswith("The Rock is destined to be the 21st Century's new"))] == 2
