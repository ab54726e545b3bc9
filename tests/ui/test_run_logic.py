"""The Run tab's logic (ftlab/ui/logic/run.py): run choices, the summary, re-runs, the weights zip."""

import zipfile

import pytest

from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.ui.logic import run as run_logic


def test_run_choices_newest_first_and_only_loadable_runs_for_the_playground(tmp_path):
    art = tmp_path / "run-2"
    art.mkdir()
    runs = [{"id": 1, "status": "succeeded", "method": "head", "seed": 0, "model": "tiny", "dataset": "d",
             "artifact_dir": str(tmp_path / "gone")},
            {"id": 2, "status": "succeeded", "method": "lora", "seed": 1, "model": "tiny", "dataset": "d",
             "artifact_dir": str(art)},
            {"id": 3, "status": "failed", "method": "lora", "seed": 0, "model": "tiny", "dataset": "d"}]
    assert [i for _, i in run_logic.run_choices(runs)] == [3, 2, 1]
    assert run_logic.run_choices(runs, with_artifacts=True) == [("#2 lora · seed 1 · tiny / d · succeeded", 2)]


def test_runs_that_differ_in_their_experiment_are_named_apart():
    """A study's trial and tuned re-run, a learning curve's size and a continuation read differently."""
    def run(i, **config):
        return {"id": i, "status": "succeeded", "method": "lora", "seed": 0, "model": "minilm",
                "dataset": "tweets-sentiment", "config": {"method": "lora", "seed": 0, **config}}
    runs = [run(1), run(2, tag="trial", max_train=256), run(3, tag="tuned", max_train=256), run(4, max_train=64),
            run(5, init_from=4, dataset="sentiment-products")]
    labels = [run_logic.run_label(r) for r in runs]
    assert labels[0] == "#1 lora · seed 0 · minilm / tweets-sentiment · succeeded"
    assert "lora (trial, 256 examples)" in labels[1] and "lora (tuned, 256 examples)" in labels[2]
    assert "lora (64 examples)" in labels[3] and "lora (from #4)" in labels[4]
    assert len({label.split(" ", 1)[1] for label in labels}) == len(labels)  # apart even without the id


def test_run_summary_shows_scores_and_costs():
    run = {"id": 9, "method": "lora", "model": "tiny", "dataset": "tweets-sentiment", "seed": 0, "status": "succeeded",
           "task": "classification", "accuracy": 0.8123, "macro_f1": 0.7, "trainable_params": 4291,
           "total_params": 2062022, "wall_s": 75.0, "dataset_sizes": {"train": 64, "validation": 32, "test": 32}}
    md = run_logic.run_summary_markdown(run)
    for words in ("Run #9: lora on tiny / tweets-sentiment, seed 0", "| accuracy | 81.2% |",
                  "4,291 (0.21% of 2,062,022)", "| wall time | 1m 15s |", "64 train / 32 val / 32 test"):
        assert words in md, words
    failed = run_logic.run_summary_markdown({**run, "status": "failed", "error": "training diverged at step 3",
                                             "wall_s": 0.4, "accuracy": None, "logs": ["loading", "step 3 loss nan"]})
    assert "**Why:** training diverged at step 3" in failed and "Retry" in failed
    assert "wall time" not in failed and "accuracy" not in failed  # nothing it did not reach
    assert "step 3 loss nan" in failed  # the log's last lines
    assert run_logic.run_actions({"status": "failed"}) == {"rerun": "Retry", "download": False}
    assert run_logic.run_actions({"status": "succeeded"}) == {"rerun": "Re-run", "download": True}
    assert run_logic.run_actions({"status": "running"})["rerun"] is None
    assert "entity F1" in run_logic.run_summary_markdown({**run, "task": "ner", "entity_f1": 0.5})


def test_rerun_keeps_the_config_or_moves_to_the_next_seed():
    cfg = RunConfig(model="tiny", dataset="tweets-sentiment", method="head", seed=3, max_train=64)
    assert run_logic.rerun_config(cfg.to_dict()) == cfg
    nxt = run_logic.rerun_config(cfg.to_dict(), next_seed=True)
    assert nxt.seed == 4 and nxt.replace(seed=3) == cfg


def test_zip_artifacts(tmp_path):
    art = tmp_path / "run-5"
    (art / "sub").mkdir(parents=True)
    (art / "run.json").write_text("{}")
    (art / "sub" / "w.bin").write_bytes(b"123")
    path = run_logic.zip_artifacts(str(art), tmp_path / "out", 5)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["run-5/run.json", "run-5/sub/w.bin"]
    with pytest.raises(FtlabError, match="run 6 has no saved weights"):
        run_logic.zip_artifacts(str(tmp_path / "missing"), tmp_path / "out", 6)


def test_playground_starts_with_the_newest_runs_one_per_method():
    runs = [{"id": 1, "status": "succeeded", "model": "tiny", "dataset": "a", "method": "full"},
            {"id": 2, "status": "succeeded", "model": "tiny", "dataset": "b", "method": "full"},
            {"id": 3, "status": "succeeded", "model": "tiny", "dataset": "b", "method": "lora"},
            {"id": 4, "status": "succeeded", "model": "tiny", "dataset": "b", "method": "lora"},
            {"id": 5, "status": "failed", "model": "tiny", "dataset": "b", "method": "ia3"}]
    assert run_logic.default_picks(runs, 4) == [4, 2]  # newest lora, then full, of dataset b
    assert run_logic.default_picks(runs, 1) == [4]
    assert run_logic.default_picks([], 4) == []
    baseline = {"id": 6, "status": "succeeded", "model": "tiny", "dataset": "b", "method": "majority",
                "trainable_params": 0}
    assert run_logic.default_picks(runs + [baseline], 4) == [4, 2]  # baselines are the charts' lines, not picks


def test_lineage_follows_init_from_up_and_lists_the_continuations():
    import pandas as pd

    runs = pd.DataFrame([{"id": 3, "dataset": "sentiment-movies", "init_from": None},
                         {"id": 7, "dataset": "sentiment-products", "init_from": 3},
                         {"id": 9, "dataset": "sentiment-news", "init_from": 7},
                         {"id": 11, "dataset": "sentiment-tweets", "init_from": 7},
                         {"id": 12, "dataset": "tweets-sentiment", "init_from": None}])
    runs["init_from"] = runs["init_from"].astype("Int64")  # as runs_df gives it: nullable ints
    records = runs.to_dict("records")
    chain, children = run_logic.lineage(7, records)
    assert [r["id"] for r in chain] == [3, 7] and [r["id"] for r in children] == [9, 11]
    text = run_logic.lineage_markdown(9, records)
    assert text.startswith("Lineage (continual fine-tuning): #3 on sentiment-movies → #7 on sentiment-products → "
                           "**#9 on sentiment-news**")
    assert run_logic.lineage_markdown(12, records) == ""
    rows = dict(run_logic.continual_rows({"init_from": 3, "forgetting": 0.05, "old_task_before": 0.8,
                                          "old_task_after": 0.75, "new_task_before": 0.5, "new_task_gain": 0.2}))
    assert rows["forgetting (points lost)"] == "+5.0" and rows["gain (points won)"] == "+20.0"


def test_a_push_from_the_dashboard_uses_the_visitors_own_token():
    assert run_logic.push_token("hf_visitor", on_space=True) == "hf_visitor"
    assert run_logic.push_token(None, on_space=False) is None  # locally: the machine's login
    with pytest.raises(FtlabError, match="sign in with Hugging Face"):  # never the Space owner's token
        run_logic.push_token(None, on_space=True)
