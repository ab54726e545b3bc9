"""Prompt/answer data in the shapes users keep it in, and one line for each way it is bad."""

import json

import pandas as pd
import pytest

from ftlab import data
from ftlab.errors import DataError
from ftlab.tasks.answers import extract


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def rows(make, n=30):
    return [make(i) for i in range(n)]


@pytest.mark.parametrize("make, prompt, answer", [
    (lambda i: {"prompt": f"q{i}", "completion": f"a{i}"}, "q0", "a0"),
    (lambda i: {"question": f"q{i}", "answer": f"so #### {i}"}, "q0", "so #### 0"),  # GSM8K
    (lambda i: {"query": f"q{i}", "response": f"a{i}"}, "q0", "a0"),  # MetaMathQA
    (lambda i: {"instruction": f"do {i}", "input": "" if i else "ctx", "output": f"a{i}"}, "do 0\n\nctx", "a0"),
])
def test_prompt_answer_shapes_become_one_user_turn_and_its_answer(tmp_path, make, prompt, answer):
    path = write_jsonl(tmp_path / "d.jsonl", rows(make))
    assert data.infer_task(path) == "sft"
    d = data.load_dataset(path, split_seed=0)
    pairs = {json.dumps(m): a for s in (d.train, d.validation, d.test) for m, a in zip(s.texts, s.labels)}
    assert pairs[json.dumps([{"role": "user", "content": prompt}])] == answer
    assert d.task == "sft" and len(pairs) == 30 and d.label_names == []


def test_chat_messages_and_sharegpt_turns_train_on_the_last_assistant_turn(tmp_path):
    chat = write_jsonl(tmp_path / "chat.jsonl", rows(lambda i: {"messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": f"hi {i}"},
        {"role": "assistant", "content": "hello"}, {"role": "user", "content": f"2+{i}?"},
        {"role": "assistant", "content": str(2 + i)}]}))
    d = data.load_dataset(chat)
    first = d.train.texts[d.train.labels.index("2")] if "2" in d.train.labels else None
    every = [(m, a) for s in (d.train, d.validation, d.test) for m, a in zip(s.texts, s.labels)]
    m, a = next((m, a) for m, a in every if a == "2")
    assert [t["role"] for t in m] == ["system", "user", "assistant", "user"] and m[-1]["content"] == "2+0?"
    assert first is None or first == m
    share = write_jsonl(tmp_path / "share.jsonl", rows(lambda i: {"conversations": [
        {"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]}))
    d = data.load_dataset(share)
    assert all(t["role"] == "user" for s in (d.train,) for m in s.texts for t in m)
    assert sorted(d.train.labels + d.validation.labels + d.test.labels) == sorted(f"a{i}" for i in range(30))


def test_csv_and_parquet_with_named_columns(tmp_path):
    frame = pd.DataFrame({"ask": [f"q{i}" for i in range(30)], "reply": [f"a{i}" for i in range(30)]})
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.csv", index=False)
    for name in ("d.parquet", "d.csv"):
        d = data.load_dataset(str(tmp_path / name), text_column="ask", label_column="reply", task="sft")
        assert d.task == "sft" and len(d.train) + len(d.validation) + len(d.test) == 30


@pytest.mark.parametrize("make, message", [
    (lambda i: {"prompt": f"q{i}", "score": i}, "no answer column"),
    (lambda i: {"prompt": f"q{i}", "completion": " "}, "every answer in column 'completion'"),
    (lambda i: {"messages": [{"role": "user", "content": "hi"}]}, "has no assistant turn"),
    (lambda i: {"messages": "hello there"}, "not a list of turns"),
    (lambda i: {"messages": [{"speaker": "x", "text": "hi"}]}, "a turn needs a role"),
])
def test_bad_generative_data_is_one_line_that_names_the_fix(tmp_path, make, message):
    path = write_jsonl(tmp_path / "bad.jsonl", rows(make))
    with pytest.raises(DataError, match=message) as err:
        data.load_dataset(path, task="sft")
    assert "\n" not in str(err.value)


def test_built_in_generative_sets_load_offline():
    math = data.load_dataset("gsm-symbolic")
    assert math.task == "sft" and math.generation["rule"] == "number"
    assert all("####" in a and extract(a, "number") for a in math.train.labels)  # "#### 30.0" reads "30"
    # the test split's problems come from templates never trained on
    assert not {m[0]["content"] for m in math.test.texts} & {m[0]["content"] for m in math.train.texts}
    tweets = data.load_dataset("tweets-instruct", max_train=50, max_eval=20)
    assert set(tweets.train.labels) <= {"negative", "neutral", "positive"}
    assert tweets.train.texts[0][0]["content"].startswith("What is the sentiment of this tweet?")


def test_hub_prompt_answer_sets_keep_their_splits_and_shapes():
    """What `datasets.load_dataset` returns for GSM8K (question/answer) and alpaca, read for generation."""
    from datasets import Dataset, DatasetDict

    from ftlab.data import hub

    assert hub.hub_task("openai/gsm8k:main") == hub.hub_task("meta-math/MetaMathQA") == "sft"
    assert hub.hub_task("tatsu-lab/alpaca") == "sft" and hub.hub_task("imdb") == "classification"
    gsm = DatasetDict({s: Dataset.from_list([{"question": f"{s} q{i}", "answer": f"so #### {i}"} for i in range(n)])
                       for s, n in (("train", 20), ("test", 5))})
    loaded = hub.from_dataset_dict(gsm, "openai/gsm8k:main", "sft")
    assert set(loaded.splits) == {"train", "test"} and loaded.task == "sft"
    assert loaded.splits["test"][0][0] == [{"role": "user", "content": "test q0"}]
    assert loaded.splits["test"][1][0] == "so #### 0"
    alpaca = DatasetDict({"train": Dataset.from_list([{"instruction": "add", "input": f"{i}+1", "output": str(i + 1)}
                                                      for i in range(10)])})
    prompts, answers = hub.from_dataset_dict(alpaca, "tatsu-lab/alpaca", "sft").splits["train"]
    assert prompts[2] == [{"role": "user", "content": "add\n\n2+1"}] and answers[2] == "3"
    with pytest.raises(DataError, match="no answer column"):
        hub.from_dataset_dict(DatasetDict({"train": Dataset.from_list([{"prompt": "x", "n": 1}])}), "x/y", "sft")
