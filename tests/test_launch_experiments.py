"""Every launch is one experiment: a grid with the baselines it queues, a learning curve, a tuning
study with its trials, tuned re-runs and default runs, a continuation; renamed on demand."""

from pathlib import Path

import pytest

from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.experiments import launch_kind, new_experiment
from ftlab.service import Lab


def test_each_launch_is_one_experiment_named_after_what_it_compares(tmp_path, keyword_csv):
    with Lab(str(tmp_path / "x.duckdb"), start_scheduler=False) as lab:
        base = RunConfig(model="tiny", dataset=keyword_csv, max_train=64, max_eval=10)
        grid = [base.replace(method=m, seed=s) for m in ("full", "lora") for s in (0, 1)]
        ids = lab.submit(grid, baselines=True)
        (grid_exp,) = lab.experiments()
        jobs = {j["id"]: j for j in lab.jobs()}
        assert len(ids) > len(grid)  # the baselines went in too, into the same experiment
        assert {jobs[i]["experiment_id"] for i in ids} == {grid_exp["id"]}
        assert grid_exp["name"] == f"full, lora · tiny / {Path(keyword_csv).name} · 64 examples"
        assert grid_exp["kind"] == "grid" and grid_exp["n_queued"] == len(ids)

        curve = [base.replace(method="lora", max_train=n) for n in (32, 64, 128)]
        lab.submit(curve)
        assert launch_kind(curve) == "curve" and lab.experiments()[0]["name"].startswith("learning curve lora (32–128")

        studies = lab.tune(base.replace(method="lora", seed=7), ["lora"], trials=2, seeds=2, baselines=False)
        tune_exp = lab.experiments()[0]
        assert tune_exp["kind"] == "tune" and tune_exp["name"].startswith("tuning lora")
        assert studies[0]["spec"]["experiment"]["id"] == tune_exp["id"]
        lab.scheduler.tuner.tick()  # the study asks for its first trials: jobs of the same experiment
        trials = [j for j in lab.jobs() if j.get("trial") is not None]
        assert trials and {j["experiment_id"] for j in trials} == {tune_exp["id"]}
        defaults = [j for j in lab.jobs() if j["experiment_id"] == tune_exp["id"] and j.get("study_id") is None]
        assert len(defaults) == 2  # the default setting over the seeds, beside the study

        assert lab.rename_experiment(grid_exp["id"], "first grid") == "renamed"
        assert next(e for e in lab.experiments() if e["id"] == grid_exp["id"])["name"] == "first grid"
        with pytest.raises(FtlabError, match="cannot be empty"):
            lab.rename_experiment(grid_exp["id"], "  ")


def test_continuations_and_files_get_their_own_kind_and_name(tmp_path):
    child = RunConfig(model="tiny", dataset="sentiment-products", init_from=4, method="lora")
    assert new_experiment([child])["name"] == "lora #4 → sentiment-products"
    path = tmp_path / "quick.yaml"
    path.write_text("name: quick-compare\nbase: {model: tiny, dataset: tweets-sentiment}\ngrid: {method: [lora]}\n")
    from ftlab.experiments import file_experiment, load_configs

    made = file_experiment(path, load_configs(path))
    assert (made["name"], made["kind"]) == ("quick-compare", "file")
    a, b = new_experiment([child]), new_experiment([child])
    assert a["id"] != b["id"]  # two launches of the same grid are two experiments


def test_the_api_json_names_each_run_and_its_experiment(tmp_path):
    """`Lab.runs` (the API's and `ftlab runs --json`'s records) says what sets a run apart, as the
    Run picker and the legends do, and which experiment it belongs to."""
    with Lab(str(tmp_path / "x.duckdb"), start_scheduler=False) as lab:
        tuned = RunConfig(model="tiny", dataset="tweets-sentiment", method="lora", max_train=256, tag="tuned")
        experiment = new_experiment([tuned], kind="tune")
        lab.store.create_run(tuned.to_dict(), tuned.hash, model="tiny", dataset="tweets-sentiment",
                             task="classification", method="lora", seed=0, versions={}, experiment=experiment)
        plain = tuned.replace(max_train=None, tag=None)
        lab.store.create_run(plain.to_dict(), plain.hash, model="tiny", dataset="tweets-sentiment",
                             task="classification", method="lora", seed=0, versions={})
        first, second = lab.runs()
        assert first["label"] == "lora (tuned, 256 examples)" and first["experiment"] == experiment["name"]
        assert second["label"] == "lora" and second["experiment"] is None


def test_a_rename_from_another_process_goes_through_the_inbox(tmp_path, keyword_csv, monkeypatch):
    from remote_kit import remote_lab

    from ftlab.queue import inbox

    db = str(tmp_path / "x.duckdb")
    with Lab(db, start_scheduler=False) as owner:
        owner.submit([RunConfig(model="tiny", dataset=keyword_csv, method="head", max_train=64)])
        (made,) = owner.experiments()

        remote = remote_lab(db, monkeypatch)
        assert remote.rename_experiment(made["id"], "shared name") == "sent to the running scheduler"
        owner.scheduler.tick()  # the scheduler applies its inbox
        assert owner.experiments()[0]["name"] == "shared name"
        with pytest.raises(inbox.CommandError, match="non-empty 'name'"):
            inbox.check({"op": "rename", "experiment": made["id"], "name": "  "})


def test_on_a_shared_dashboard_only_the_owner_renames_an_experiment(tmp_path, keyword_csv):
    from ftlab.policy import PermissionDenied, Policy

    with Lab(str(tmp_path / "x.duckdb"), start_scheduler=False, policy=Policy(require_login=True)) as lab:
        lab.submit([RunConfig(model="tiny", dataset=keyword_csv, method="head", max_train=64)], owner="ann")
        (mine,) = lab.experiments()
        with pytest.raises(PermissionDenied, match="sign in"):
            lab.rename_experiment(mine["id"], "taken", user=None)
        with pytest.raises(PermissionDenied, match="only your own experiments"):
            lab.rename_experiment(mine["id"], "taken", user="bob")
        assert lab.rename_experiment(mine["id"], "ann's grid", user="ann") == "renamed"


def test_a_rename_reaches_what_other_processes_read(tmp_path, keyword_csv, monkeypatch):
    """The snapshot's job and run records carry experiment names: a rename rewrites them."""
    from remote_kit import remote_lab

    db = str(tmp_path / "x.duckdb")
    with Lab(db, start_scheduler=False) as owner:
        owner.submit([RunConfig(model="tiny", dataset=keyword_csv, method="head", max_train=64)])
        (made,) = owner.experiments()
        owner.scheduler.snapshot.write(owner.store, force=True)
        remote = remote_lab(db, monkeypatch)
        assert {j["experiment"] for j in remote.jobs()} == {made["name"]}
        owner.rename_experiment(made["id"], "renamed grid")
        owner.scheduler.snapshot.write(owner.store, force=True)
        assert {j["experiment"] for j in remote.jobs()} == {"renamed grid"}


def test_a_study_begun_before_experiments_queues_into_its_own(tmp_path):
    from ftlab.queue.tuning import Tuner

    spec = {"base": RunConfig(model="tiny", dataset="tweets-sentiment", method="lora").to_dict(), "eval_every": 2}
    _, extra = Tuner._job(spec, "s1", 0, {"lr": 1e-3})
    assert extra["experiment"]["id"] == "study-s1"  # what the v7 migration named the study's experiment
