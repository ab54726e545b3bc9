"""Tuning: Optuna studies whose trials are queue jobs, one pruned, the study rebuilt after a
scheduler restart mid-study, the best setting re-run over seeds (workers scripted); trial settings
from each method's search space; Lab.tune's queueing."""

import math
import time

import optuna
import pytest

from ftlab.config import RunConfig
from ftlab.queue import tuning
from ftlab.queue.scheduler import Scheduler
from ftlab.store import Store
from test_queue import ScriptedBackend  # workers that do what the test says

TERMINAL = {"succeeded", "failed", "canceled", "pruned"}


class PruneTrialOne(optuna.pruners.BasePruner):
    """Prunes trial 1 of each study at its first report: a fixed, known pruning decision."""

    def prune(self, study, trial):
        return trial.number == 1


def validation_accuracy(config: dict) -> float:
    """A scripted trial's validation score: a known function of its learning rate (best near 1e-3)."""
    return round(1.0 - abs(math.log10(config["lr"]) + 3) / 10, 4)


def trial_script(handle):
    """A trial as the scheduler sees a worker: it starts, reports its half-way validation score at
    step 150 (the pruner's look), and runs until the test finishes it or the scheduler stops it;
    a tuned re-run finishes at once."""
    config = handle.spec["config"]
    if config.get("tag") != "trial":
        handle.finish(steps=2)
        return
    handle.start(300)
    handle.events.append({"event": "eval", "time": time.time(), "step": 150, "split": "validation",
                          "metrics": {"accuracy": validation_accuracy(config), "loss": 1.0}})


def test_studies_prune_survive_a_restart_and_rerun_the_best_over_seeds(tmp_path, monkeypatch):
    """The tuner's ask / report / prune / restart / re-run logic, with workers scripted (the engine
    that runs a trial's config is the engine of every run, tested on its own)."""
    monkeypatch.setattr(tuning, "make_pruner", PruneTrialOne)
    db = str(tmp_path / "tune.duckdb")
    store = Store(db)
    base = RunConfig(model="tiny", dataset="tweets-sentiment", max_train=64, max_eval=32, batch_size=16,
                     max_steps=300, max_length=16, seed=0)
    # one study: studies of several methods are queued alike (test_lab_tune_queues_... below)
    studies = tuning.study_specs(base, ["lora"], trials=3, seeds=2, steps=300)
    assert all(s["spec"]["eval_every"] == 150 for s in studies)
    store.add_studies(studies)

    def finish_running(backend):
        """Each trial still running a tick after its first report (the tick in which the tuner may prune
        it) finishes: a validation score at 300, then the test."""
        for handle in backend.handles:
            handle.ticks = getattr(handle, "ticks", 0) + 1
            if handle.code is None and handle.cancel_at is None and handle.spec["config"].get("tag") == "trial" \
                    and handle.ticks >= 2:
                handle.events.append({"event": "eval", "time": time.time(), "step": 300, "split": "validation",
                                      "metrics": {"accuracy": validation_accuracy(handle.spec["config"]),
                                                  "loss": 0.5}})
                handle.finish(steps=1)

    backend = ScriptedBackend(trial_script)
    sched = Scheduler(store, db, backend=backend, slots=["cpu"])
    finished = lambda: sum(j["status"] in TERMINAL for j in store.jobs_records())  # noqa: E731
    for _ in range(200):  # until one trial ended and the next runs
        sched.tick()
        if finished() >= 1 and any(j["status"] == "running" for j in store.jobs_records()):
            break
        finish_running(backend)
    assert finished() >= 1
    sched.shutdown()  # mid-study: the running trial is interrupted, re-queued by the next scheduler
    assert "interrupted" in {j["status"] for j in store.jobs_records()}

    backend = ScriptedBackend(trial_script)
    sched = Scheduler(store, db, backend=backend, slots=["cpu"])
    for _ in range(400):
        sched.tick()
        if all(s["status"] != "running" for s in store.studies_records()):
            break
        finish_running(backend)
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
                assert scores[j["trial"]] == validation_accuracy(j["config"])
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
