"""The Lab methods the dashboard adds (runs_df, run_detail, dataset_card, estimate, predict)."""

import pytest

from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.service import Lab


@pytest.fixture
def lab(tmp_path):
    with Lab(str(tmp_path / "h.duckdb")) as lab:
        yield lab


def test_reads_on_an_empty_database(lab):
    assert lab.runs_df().empty
    steps, evals = lab.curves([])
    assert steps.empty and evals.empty
    with pytest.raises(FtlabError, match="run 42 does not exist"):
        lab.run_detail(42)
    with pytest.raises(FtlabError, match="run 42 does not exist"):
        lab.predict(42, ["hello"])


def test_dataset_card_with_and_without_a_tokenizer(lab, keyword_csv):
    card = lab.dataset_card(keyword_csv)
    assert card["sizes"]["train"] == 320 and {r["label"] for r in card["labels"]} == {"good", "bad", "meh"}
    assert "unk_rate" not in card
    assert lab.dataset_card(keyword_csv) is card  # cached
    with_tok = lab.dataset_card(keyword_csv, model="tiny", max_length=8)
    assert with_tok["unk_rate"] == 0 and with_tok["truncation_rate"] > 0.5  # ~9 tokens + 2 specials > 8
    with pytest.raises(FtlabError, match="file not found"):
        lab.dataset_card("./missing.csv")


def test_estimate_counts_trainable_parameters_per_method(lab, keyword_csv):
    head = lab.estimate(RunConfig(model="tiny", dataset=keyword_csv, method="head", max_train=50, max_eval=10))
    # tiny BERT hidden 64, 3 labels: classifier 64 x 3 + 3
    assert head["trainable_params"] == 195 == head["head_params"]
    assert (head["n_train"], head["n_eval"]) == (50, 10)
    full = lab.estimate(RunConfig(model="tiny", dataset=keyword_csv, method="full"))
    assert full["trainable_params"] == full["total_params"] > 1_000_000
    assert full["n_train"] == 320


@pytest.mark.parametrize("dataset, text", [("keyword_csv", "the movie was wonderful"), ("names_conll", "alice smith went to le havre")])
def test_predict_loads_a_trained_run_once(lab, request, dataset, text):
    from ftlab.service import train_now
    from ftlab.ui.logic import playground as playground_logic

    cfg = RunConfig(model="tiny", dataset=request.getfixturevalue(dataset), method="head", max_train=32, max_eval=16,
                    max_steps=2, batch_size=16)
    run_id, summary, error = train_now(cfg, lab.store, db_path=lab.db_path)
    assert error is None and summary["artifact_dir"]
    out = lab.predict(run_id, [text])
    assert lab.caches.peek("predictors", run_id) is not None  # the next prediction reuses the loaded model
    view = playground_logic.prediction_view(out["task"], out["predictions"][0], text)
    if out["task"] == "classification":
        assert set(view["label"]) == {"good", "bad", "meh"} and sum(view["label"].values()) == pytest.approx(1, abs=1e-3)
    else:
        assert "".join(seg for seg, _ in view["highlight"]) == text  # every word shown once, in order
    detail = lab.run_detail(run_id)
    assert detail["run"]["status"] == "succeeded" and len(detail["steps"]) == 2


def test_estimate_counts_parameters_from_a_finished_run_without_building_the_model(lab, keyword_csv, monkeypatch):
    """Once a model's method has run here, Estimate reads its parameter counts from that run: no
    model is built (the seconds a cold estimate spends loading weights)."""
    from ftlab.service import Caches
    from ftlab.train import artifacts

    config = RunConfig(model="tiny", dataset=keyword_csv, method="head", max_train=50, max_eval=10)
    first = lab.estimate(config)  # built once: the counts the run below records
    counted = ("total_params", "trainable_params", "head_params", "trainable_non_head_params")
    run_id = lab.store.create_run(config.to_dict(), config.hash, model="tiny", dataset=keyword_csv,
                                  task=config.task, method="head", seed=0, versions={})
    lab.store.record_event(run_id, {"event": "started", "time": 0, "params": {k: first[k] for k in counted},
                                    "dataset": {"label_names": ["bad", "good", "meh"]}})
    lab.store.record_event(run_id, {"event": "finished", "time": 1, "summary": {"accuracy": 0.5}})

    def no_build(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(artifacts, "build_untrained", no_build)
    lab.caches = Caches()  # as a dashboard started after the run finished
    again = lab.estimate(config.replace(seed=3))
    assert {k: again[k] for k in counted} == {k: first[k] for k in counted}
    with pytest.raises(AssertionError, match="was built"):  # another method: counted anew
        lab.estimate(config.replace(method="lora"))
