"""Generative runs through the engine and the store on a tiny random decoder: training moves exact
match from nothing to every answer, the generations are kept per example, prompting runs generate
with the same scorer."""

import pytest

from ftlab import charts
from ftlab.config import RunConfig
from ftlab.errors import ConfigError
from ftlab.store import Store
from ftlab.tasks import get_task
from ftlab.train.engine import train


def run(config: RunConfig, store: Store):
    run_id = store.create_run(config.to_dict(), config.hash, model=config.model, dataset=config.dataset,
                              task=config.task, method=config.method, seed=config.seed, versions={})
    events = []

    def emit(event):
        events.append(event)
        store.record_event(run_id, event)

    summary = train(config, emit)
    return run_id, summary, events


def test_fine_tuning_learns_the_answers_and_each_test_generation_is_stored(qa_jsonl):
    store = Store()
    config = RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="lora", lr=3e-2, epochs=3, batch_size=16,
                       device="cpu", max_eval=24)
    assert config.task == "sft"
    run_id, summary, events = run(config, store)
    assert summary["accuracy"] == 1.0 and summary["token_f1"] == 1.0  # "yes" iff the prompt says "good"
    rows = store.generations_df(run_id)
    assert len(rows) == 24 and rows["correct"].all()
    assert set(rows["generation"]) == {"yes", "no"} and (rows["generation"] == rows["reference"]).all()
    assert all(("good" in p) == (r == "yes") for p, r in zip(rows["prompt"], rows["reference"]))
    assert store.generations_df(run_id, wrong_only=True).empty
    validations = [e for e in events if e["event"] == "eval" and e["split"] == "validation"]
    assert validations and validations[0]["metrics"]["accuracy"] <= summary["accuracy"]
    assert store.runs_df().set_index("id").loc[run_id, "accuracy"] == 1.0
    # forgetting: cross-entropy on the shipped general text, before and after training
    assert summary["general_loss_before"] > 0 and summary["general_loss_after"] > 0
    assert summary["forgetting_ce"] == pytest.approx(summary["general_loss_after"] - summary["general_loss_before"])
    assert summary["forgetting_ce"] != 0  # LoRA moved the weights the general text runs through
    assert store.runs_df().set_index("id").loc[run_id, "forgetting_ce"] == pytest.approx(summary["forgetting_ce"])


def test_zero_and_few_shot_generate_with_the_same_scorer_and_store_the_wrong_answers(qa_jsonl):
    store = Store()
    zero = RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="zero-shot", device="cpu", max_eval=12,
                     max_new_tokens=4)
    run_id, summary, events = run(zero, store)
    assert summary["trainable_params"] == 0 and "steps" not in summary
    wrong = store.generations_df(run_id, wrong_only=True)
    assert len(wrong) == round(12 * (1 - summary["accuracy"])) and not wrong["correct"].any()
    assert summary["forgetting_ce"] == 0.0  # prompting changes no weight
    few = zero.replace(method="few-shot", method_options={"shots": 3})
    few_id, _, _ = run(few, store)
    chart = charts.general_forgetting(store.runs_df())
    assert chart.layout.meta["labels"] == ["zero-shot", "few-shot"]
    assert [trace.x[0] for trace in chart.data] == [0.0, 0.0]
    # the same test prompts, each now after three solved train examples (longer prompts, same questions)
    assert list(store.generations_df(few_id)["prompt"]) == list(store.generations_df(run_id)["prompt"])


def test_a_max_length_that_leaves_no_room_for_the_answers_is_one_line(qa_jsonl):
    config = RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="lora", max_length=8, max_steps=1,
                       device="cpu")
    with pytest.raises(ConfigError, match="max.length 8 cuts the whole answer of .* raise it above") as err:
        train(config)
    assert "\n" not in str(err.value)


def test_the_speed_probe_times_generation_for_a_generative_run(qa_jsonl, monkeypatch):
    """Launch's estimate: a generative run's evaluation is timed as generation, not one forward pass."""
    import dataclasses

    from ftlab import tasks
    from ftlab.tasks import sft
    from ftlab.train import probe
    from ftlab.train.artifacts import build_untrained, run_data

    config = RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="lora", batch_size=8, max_new_tokens=3)
    data = run_data(config)
    model, tokenizer, _ = build_untrained(config, [], train=data.train)
    asked = []
    real = sft.generate

    def counting(model, tokenizer, encoded, settings, *args):
        asked.append((len(encoded), settings.max_new_tokens))
        return real(model, tokenizer, encoded, settings, *args)

    monkeypatch.setitem(tasks._TASKS, "sft", dataclasses.replace(get_task("sft"), generate=counting))
    rates = probe.probe_rates(model, tokenizer, config, data.train, steps=2, data=data)
    assert asked == [(16, 3)]  # one evaluation batch (2 x batch_size) of answers, as long as the run's
    assert rates["train_samples_per_s"] > 0 and rates["eval_samples_per_s"] > 0


def test_packed_training_learns_the_same_answers_in_fewer_rows(qa_jsonl):
    store = Store()
    config = RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="lora", lr=3e-2, epochs=3, batch_size=4,
                       max_length=64, packing=True, device="cpu", max_eval=24)
    run_id, summary, events = run(config, store)
    note = next(e["message"] for e in events if e["event"] == "log" and e["message"].startswith("packed"))
    rows = int(note.split(" into ")[1].split()[0])
    assert note.startswith("packed 192 training examples") and rows < 192 / 2
    assert summary["steps"] == 3 * -(-rows // 4)  # an epoch is the packed rows' batches
    assert summary["accuracy"] == 1.0
