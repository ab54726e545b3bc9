"""Tuning end to end on the tiny model: Optuna studies whose trials are queue jobs, one pruned,
the study rebuilt after a scheduler restart mid-study, the best setting re-run over seeds."""

import optuna
import pytest

from ftlab.config import RunConfig
from ftlab.queue import tuning
from ftlab.queue.scheduler import Scheduler
from ftlab.store import Store
from test_queue import drive  # the queue tests' tick-until loop

TERMINAL = {"succeeded", "failed", "canceled", "pruned"}


class PruneTrialOne(optuna.pruners.BasePruner):
    """Prunes trial 1 of each study at its first report: a fixed, known pruning decision."""

    def prune(self, study, trial):
        return trial.number == 1


def test_studies_prune_survive_a_restart_and_rerun_the_best_over_seeds(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "make_pruner", PruneTrialOne)
    db = str(tmp_path / "tune.duckdb")
    store = Store(db)
    # short inputs keep 300 steps of the tiny model to seconds, and leave the pruned trial 150
    # steps to run after its first validation pass while the scheduler decides to stop it
    base = RunConfig(model="tiny", dataset="tweets-sentiment", max_train=64, max_eval=32, batch_size=16,
                     max_steps=300, max_length=16, seed=0)
    # one study: studies of several methods are queued alike (test_lab_tune_queues_... below)
    studies = tuning.study_specs(base, ["lora"], trials=3, seeds=2, steps=300)
    assert all(s["spec"]["eval_every"] == 150 for s in studies)
    store.add_studies(studies)

    sched = Scheduler(store, db, slots=["cpu"], spare_workers=True)
    finished = lambda: sum(j["status"] in TERMINAL for j in store.jobs_records())  # noqa: E731
    drive(sched, lambda: finished() >= 1 and any(j["status"] == "running" for j in store.jobs_records()),
          timeout=400)
    sched.shutdown()  # mid-study: the running trial is interrupted, re-queued by the next scheduler

    sched = Scheduler(store, db, slots=["cpu"], spare_workers=True)
    drive(sched, lambda: all(s["status"] != "running" for s in store.studies_records()), timeout=400)
    sched.shutdown()

    for st in store.studies_records():
        assert st["status"] == "done", st
        jobs = store.study_jobs(st["id"])
        trials = [j for j in jobs if j["trial"] is not None]
        assert sorted(j["trial"] for j in trials) == [0, 1, 2]  # the restart asked no extra trial
        assert [j["status"] for j in sorted(trials, key=lambda j: j["trial"])] == ["succeeded", "pruned", "succeeded"]
        pruned = next(j for j in trials if j["status"] == "pruned")
        assert store.get_run(pruned["run_id"])["status"] == "pruned"
        for j in trials:
            config = RunConfig(**j["config"])
            assert config.tag == "trial" and config.method == st["method"] and config.lr == j["trial_params"]["lr"]
        # the best trial by its best validation score, re-run over seeds 0 and 1 with its setting
        scores = {}
        for j in trials:
            if j["status"] == "succeeded":
                ev = store.evals_df(j["run_id"])
                scores[j["trial"]] = ev[ev["split"] == "validation"]["accuracy"].max()
        best = max(scores, key=scores.get)
        assert st["best"]["trial"] == best and st["best"]["value"] == pytest.approx(scores[best])
        reruns = [j for j in jobs if j["trial"] is None]
        assert sorted(RunConfig(**j["config"]).seed for j in reruns) == [0, 1]
        for j in reruns:
            config = RunConfig(**j["config"])
            assert j["status"] == "succeeded" and config.tag == "tuned"
            assert config.lr == st["best"]["params"]["lr"] and config.eval_every == base.eval_every
    store.close()


def test_trial_settings_come_from_the_method_search_space():
    from ftlab import methods

    space = methods.get_method("lora").search_space()
    assert space["lr"][0] == "log" and space["r"] == [4, 8, 16, 32]
    assert methods.get_method("full").search_space()["lr"] == ("log", 1e-5, 5e-4)
    base = RunConfig(model="tiny", dataset="tweets-sentiment", method="lora")
    (spec,) = tuning.study_specs(base, ["lora"], trials=2, seeds=1, steps=10)
    config = tuning.trial_config(spec["spec"], {"lr": 0.002, "r": 16, "alpha": 32})
    assert (config.lr, config.method_options.r, config.method_options.alpha, config.eval_every) == (0.002, 16, 32, 5)
    with pytest.raises(Exception, match="baseline"):
        tuning.study_specs(base, ["majority"], trials=2, seeds=1, steps=10)


def test_lab_tune_queues_defaults_baselines_and_one_study_per_method(tmp_path):
    from ftlab.queue import inbox
    from ftlab.service import Lab

    db = str(tmp_path / "lab.duckdb")
    base = RunConfig(model="tiny", dataset="tweets-sentiment", max_train=64, max_eval=32, batch_size=16, epochs=2)
    with Lab(db) as lab:
        studies = lab.tune(base, ["lora", "head"], trials=4, seeds=2)
        assert [s["method"] for s in studies] == ["lora", "head"]
        assert all(s["spec"]["eval_every"] == 4 for s in studies)  # 64 / 16 x 2 epochs = 8 steps, 2 passes
        jobs = lab.jobs()
        assert sorted((j["config"]["method"], j["config"]["seed"]) for j in jobs) == [
            ("head", 0), ("head", 1), ("lora", 0), ("lora", 1), ("majority", 0), ("zero-shot", 0)]
        assert [s["status"] for s in lab.store.studies_records()] == ["running", "running"]
        lab.tune(base, ["lora"], trials=4, seeds=2)  # the defaults and baselines are queued already
        assert len(lab.jobs()) == 6 and len(lab.store.studies_records()) == 3
        # another process's studies arrive through the inbox, like its jobs
        (other,) = tuning.study_specs(base, ["ia3"], trials=2, seeds=1, steps=8)
        inbox.send(db, {"op": "study", "studies": [other]})
        lab.scheduler._apply_inbox()
        assert other["id"] in {s["id"] for s in lab.store.studies_records()}
