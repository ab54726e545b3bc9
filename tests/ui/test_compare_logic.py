"""The Compare tab's logic (ftlab/ui/logic/compare.py): filters, the runs table and its diff, export."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.ui.logic import compare as compare_logic


def runs_frame():
    def cfg(method, seed, dataset="tweets-sentiment", **opts):
        c = RunConfig(model="tiny", dataset=dataset, method=method, seed=seed, max_train=64, method_options=opts)
        return json.dumps(c.to_dict())

    return pd.DataFrame({
        "id": [1, 2, 3, 4], "status": ["succeeded", "succeeded", "failed", "succeeded"],
        "model": ["tiny"] * 4, "dataset": ["tweets-sentiment"] * 3 + ["zh-reviews"], "task": ["classification"] * 4,
        "method": ["head", "head", "bitfit", "head"], "seed": [0, 1, 0, 0],
        "accuracy": [0.5, 0.6, None, 0.7], "trainable_params": [195, 195, 400, 130],
        "train_samples_per_s": [10.0, 12.0, None, 9.0], "peak_memory_mb": [600.0, 601.0, None, 590.0],
        "wall_s": [10.0, 11.0, 2.0, 9.0], "error": [None, None, "diverged", None],
        "config": [cfg("head", 0), cfg("head", 1, train_pooler=True), cfg("bitfit", 0), cfg("head", 0, "zh-reviews")],
    })


def test_filter_runs_keeps_rows_matching_every_filter():
    runs = runs_frame()
    assert list(compare_logic.filter_runs(runs)["id"]) == [1, 2, 3, 4]
    assert list(compare_logic.filter_runs(runs, statuses=["succeeded"])["id"]) == [1, 2, 4]
    assert list(compare_logic.filter_runs(runs, datasets=["tweets-sentiment"], methods=["head"])["id"]) == [1, 2]
    assert list(compare_logic.filter_runs(runs, methods="bitfit")["id"]) == [3]
    assert compare_logic.filter_runs(runs, models=["minilm"]).empty
    assert compare_logic.filter_choices(runs)["method"] == ["bitfit", "head"]
    assert compare_logic.filter_choices(None)["dataset"] == []


def test_config_diff_keeps_only_fields_that_differ():
    runs = runs_frame()
    diff = compare_logic.config_diff(runs)
    assert list(diff["id"]) == [1, 2, 3, 4]
    assert set(diff.columns) == {"id", "seed", "method", "method_options.train_pooler", "dataset"}
    assert list(diff["method_options.train_pooler"]) == ["false", "true", "", "false"]  # bitfit has no such option
    same = compare_logic.config_diff(runs.iloc[[0, 1]].assign(config=[runs["config"][0]] * 2))
    assert list(same.columns) == ["id"]
    assert list(compare_logic.config_diff(None).columns) == ["id"]


def test_runs_table_has_scores_costs_and_the_diff():
    table = compare_logic.runs_table(runs_frame())
    assert list(table.columns[:6]) == ["run", "status", "method", "model", "dataset", "seed"]
    assert list(table["accuracy %"][:2]) == [50.0, 60.0]
    assert "≠ opt.train_pooler" in table.columns and "≠ method" not in table.columns
    assert table["error"][2] == "diverged"
    assert list(compare_logic.runs_table(None).columns)[:2] == ["run", "status"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trips(tmp_path, fmt):
    runs = runs_frame()
    path = compare_logic.export_runs(runs, fmt, tmp_path)
    assert path.endswith(f".{fmt}") and Path(path).parent == tmp_path
    back = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    assert list(back["id"]) == [1, 2, 3, 4] and list(back.columns) == list(runs.columns)
    assert json.loads(back["config"][1])["method_options"]["train_pooler"] is True
    from ftlab.charts import prepared  # a refresh's frame (configs parsed once) exports the same columns

    again = compare_logic.export_runs(prepared(runs), fmt, tmp_path / "prepared")
    assert list((pd.read_csv(again) if fmt == "csv" else pd.read_parquet(again)).columns) == list(runs.columns)


def test_export_refuses_nothing_and_unknown_formats(tmp_path):
    with pytest.raises(FtlabError, match="no runs to export"):
        compare_logic.export_runs(pd.DataFrame(), "csv", tmp_path)
    with pytest.raises(FtlabError, match="unknown export format"):
        compare_logic.export_runs(runs_frame(), "xlsx", tmp_path)


def test_a_methods_own_options_are_not_differences():
    """full vs LoRA: LoRA's r is not a setting that differs between them (the method column says
    so); two LoRA runs with different r do differ."""
    def cfg(method, **opts):
        return json.dumps(RunConfig(model="tiny", dataset="tweets-sentiment", method=method, method_options=opts).to_dict())

    runs = pd.DataFrame({"id": [1, 2, 3], "config": [cfg("full"), cfg("lora"), cfg("ia3")]})
    assert list(compare_logic.config_diff(runs).columns) == ["id", "method"]
    runs = pd.DataFrame({"id": [1, 2, 3], "config": [cfg("full"), cfg("lora", r=4), cfg("lora", r=16)]})
    diff = compare_logic.config_diff(runs)
    assert list(diff["method_options.r"]) == ["", "4", "16"] and "method_options.lora_alpha" not in diff


def test_runs_table_prints_parameter_counts_with_separators():
    table = compare_logic.runs_table(runs_frame().assign(trainable_params=[22714371, 195, None, 130]))
    assert list(table["trainable params"]) == ["22,714,371", "195", "", "130"]


def test_versus_full_says_what_each_method_gives_up_and_saves():
    runs = runs_frame()
    assert "Add a full fine-tuning run" in compare_logic.versus_full_markdown(runs)
    runs = runs.iloc[[0, 1]].assign(method=["full", "lora"], accuracy=[0.80, 0.78], trainable_params=[1000, 10],
                                    wall_s=[20.0, 15.0])
    text = compare_logic.versus_full_markdown(runs)
    assert "| lora | 78.0% | -2.0 pts | 1.00% of full's | 25% less | 1 |" in text


def test_study_picker_and_summary():
    from ftlab.ui.logic.compare import study_choices, study_markdown

    spec = {"trials": 3, "seeds": 2, "eval_every": 50, "metric": "accuracy",
            "space": {"lr": ["log", 5e-4, 5e-2], "r": [4, 8, 16]}}
    jobs = [{"trial": 0, "status": "succeeded"}, {"trial": 1, "status": "pruned"}, {"trial": 2, "status": "running"},
            {"trial": None, "status": "queued"}]
    study = {"id": "s1", "name": "tune-x", "method": "lora", "status": "running", "spec": spec, "jobs": jobs,
             "best": {"trial": 0, "value": 0.6871, "params": {"lr": 0.00312, "r": 16}}}
    older = {**study, "id": "s0", "method": "ia3", "jobs": [], "best": None}
    assert study_choices([older, study]) == [("tune-x · lora · running · 2/3 trials", "s1"),
                                             ("tune-x · ia3 · running · 0/3 trials", "s0")]
    text = study_markdown(study)
    assert "3 trials of about 100 steps each" in text and "lr 0.0005..0.05 (log)" in text and "r in [4, 8, 16]" in text
    assert "1 pruned, 1 running, 1 succeeded" in text
    assert "Best: trial 0, lr=0.00312, r=16, validation accuracy 68.7%; re-run over 2 seed(s)" in text
    assert "tick **Tune**" in study_markdown(None)


def test_compare_refreshes_over_runs_that_recorded_no_model_or_dataset(tmp_path):
    """A run whose model and dataset were never recorded is drawn in a group named "?", not a crash."""
    import gradio as gr

    from ftlab.service import Lab
    from ftlab.ui import compare

    with Lab(str(tmp_path / "c.duckdb"), start_scheduler=False) as lab, gr.Blocks():
        for dataset, method in ((None, "lora"), ("d", "full"), ("d", "lora")):
            run_id = lab.store.create_run({"method": method}, "h", model=None, dataset=dataset, task="classification",
                                          method=method, seed=0, versions={})
            lab.store.record_event(run_id, {"event": "started", "time": 0, "params": {"trainable_params": 10}})
            lab.store.record_event(run_id, {"event": "finished", "time": 1, "summary": {"accuracy": 0.5, "wall_s": 2.0}})
        out = compare.build(lab).refresh([], None, None, None, ["succeeded"])
    texts = [v for v in out.values() if isinstance(v, str)]
    assert any("3** run(s) shown" in v for v in texts), texts
    assert any("? / ?" in v for v in texts)  # the group without a full run, named as well as it can be


def test_the_experiment_picker_lists_experiments_with_runs_newest_first_in_the_pages_language():
    from ftlab.text import using

    experiments = [{"id": "x2", "name": "lora · tiny / kw", "kind": "grid", "n_runs": 3},
                   {"id": "x1", "name": "queued only", "kind": "grid", "n_runs": 0},
                   {"id": "earlier", "name": "Earlier runs", "kind": "earlier", "n_runs": 7}]
    choices = compare_logic.experiment_choices(experiments)
    assert [v for _, v in choices] == ["latest", "x2", "earlier"]  # one with no run yet is not offered
    assert choices[1][0] == "lora · tiny / kw · 3 runs"
    assert compare_logic.chosen_experiments(["latest"], experiments) == ["x2"]
    assert compare_logic.chosen_experiments([], experiments) is None  # nothing chosen: every run
    assert compare_logic.chosen_experiments(["latest", "x2", "earlier"], experiments) == ["x2", "earlier"]
    with using("zh"):
        assert compare_logic.experiment_choices(experiments)[2][0].startswith("早先的运行")
