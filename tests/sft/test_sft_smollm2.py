"""The embedded instruct decoder fine-tunes a few steps on the built-in generative set and answers
through its own chat template."""

from ftlab import data, models
from ftlab.config import RunConfig
from ftlab.tasks import IGNORE, get_task
from ftlab.train import train


def test_smollm2_learns_to_answer_with_a_label_word_through_its_chat_template(monkeypatch):
    # forgetting on general text is tested on the tiny models (tests/sft/test_sft_engine.py): here
    # the articles' first 32 tokens keep its two passes of the 135M model from dominating the test
    monkeypatch.setattr("ftlab.train.engine.GENERAL_MAX_TOKENS", 32)
    tokenizer = models.load_tokenizer("smollm2")
    tweets = data.load_dataset("tweets-instruct", max_train=24, max_eval=4)
    enc = get_task("sft").encode(tweets.train, tokenizer, 128)
    first = tokenizer.decode(enc.input_ids[0])
    assert first.startswith("<|im_start|>system") and "<|im_start|>assistant\n" in first
    answer = [t for t in enc.labels[0] if t != IGNORE]
    # the label word, then the end of turn, once: what the model learns to write and where it stops
    assert tokenizer.decode(answer) == tweets.train.labels[0] + "<|im_end|>"
    assert answer[-1] == tokenizer.eos_token_id and answer.count(tokenizer.eos_token_id) == 1

    events = []
    summary = train(RunConfig(model="smollm2", dataset="tweets-instruct", method="lora", max_train=24, max_eval=4,
                              batch_size=8, epochs=1, lr=2e-3), events.append)
    assert summary["steps"] == 3 and 0 <= summary["accuracy"] <= 1
    assert summary["general_loss_before"] > 0 and "forgetting_ce" in summary
    rows = next(e for e in events if e["event"] == "finished")["generations"]
    assert len(rows) == 4 and all(r["generation"] for r in rows)
    assert all(r["expected"] in ("negative", "neutral", "positive") for r in rows)
