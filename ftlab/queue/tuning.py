"""Tuning on an equal budget: one Optuna study per method, its trials ordinary queue jobs.

A study (a row of the store's `studies`) holds a spec: the base RunConfig every trial shares
(model, data, epochs, batch: the same steps per trial for every method), the method's search
space (`Method.search_space`: a log-uniform learning rate and the options that matter), the
number of trials and of seeds. The scheduler's `Tuner`:

- asks Optuna (TPE sampler, median pruner) for a trial and queues it as a job (config tag
  "trial", validation passes half-way and at the end), at most `parallel` at a time;
- reports each validation score of a running trial to Optuna and stops the job when Optuna
  prunes it (the job and run end `pruned`, not `failed`);
- tells Optuna each finished trial's best validation score;
- when the trials are done, re-runs the best setting with N seeds (tag "tuned"): the runs
  Compare shows beside the default ones; then the study is `done`.

Nothing lives only in memory: at scheduler start `Tuner.load` rebuilds every running study from
its jobs and runs in DuckDB (Optuna's ask/tell interface over an in-memory study; no second
database), re-creating the trials still queued or running with the same parameters.

May import: optuna (only once a study exists), ftlab.config, ftlab.methods, ftlab.store, ftlab.text
(the figures' words).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from ftlab import methods, text
from ftlab.config import RunConfig
from ftlab.errors import ConfigError
from ftlab.tasks import get_task
from ftlab.store import Store

log = logging.getLogger("ftlab.tuning")
EVALS_PER_TRIAL = 2  # validation passes per trial: half-way (the pruner's look) and at the end
TERMINAL = ("succeeded", "failed", "canceled", "pruned")


def study_specs(base: RunConfig, method_names: list[str], *, trials: int, seeds: int, steps: int,
                parallel: int = 1, name: Optional[str] = None, experiment: Optional[dict] = None) -> list[dict]:
    """One study per method over `base`; `steps` is the optimizer steps a trial makes (the same
    for every method: equal budgets). Its trials and re-runs join `experiment` (ftlab.experiments)
    where given. Raises ConfigError for a method that cannot run on base."""
    if trials < 1 or seeds < 1:
        raise ConfigError("tune: --trials and --seeds must be 1 or more")
    name = name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}"
    out = []
    for method_name in method_names:
        method = methods.get_method(method_name)
        if not method.trains:
            raise ConfigError(f"tune: {method_name} is a baseline and trains nothing; there is nothing to tune")
        config = base.replace(method=method_name, lr=None, tag=None)
        out.append({"id": "s" + uuid.uuid4().hex[:11], "name": name, "method": method_name, "time": time.time(),
                    "spec": {"base": config.to_dict(), "trials": int(trials), "seeds": int(seeds),
                             "parallel": max(1, int(parallel)), "space": method.search_space(),
                             "eval_every": max(1, steps // EVALS_PER_TRIAL),
                             "metric": get_task(config.task).primary,
                             **({"experiment": experiment} if experiment else {})}})
    return out


def trial_config(spec: dict, params: dict, *, tag: str = "trial", seed: Optional[int] = None) -> RunConfig:
    """The base config with a trial's learning rate and options (tag "trial"), or the best ones
    re-run over a seed (tag "tuned", evaluated like any run)."""
    data = dict(spec["base"])
    options = dict(data.get("method_options") or {})
    for key, value in params.items():
        if key == "lr":
            data["lr"] = float(value)
        else:
            options[key] = value
    data.update(method_options=options, tag=tag)
    if tag == "trial":
        data["eval_every"] = spec["eval_every"]
        data["checkpoint_every"] = "0"
    if seed is not None:
        data["seed"] = seed
    return RunConfig(**data)


def distributions(space: dict) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out = {}
    for key, values in space.items():
        if isinstance(values, (list, tuple)) and values and values[0] == "log":
            out[key] = FloatDistribution(float(values[1]), float(values[2]), log=True)
        else:
            out[key] = CategoricalDistribution(list(values))
    return out


def new_study(trials: int, seed: int = 0):
    """TPE whose first half of the trials (at most Optuna's default 10) sample at random: with
    Optuna's default of 10 random trials, a 6-trial study would never use TPE at all."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(10, trials // 2)))
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=make_pruner())


def make_pruner():
    """Stop a trial whose validation score is below the median of earlier trials at the same
    step, once 2 trials have finished."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


@dataclass
class LiveStudy:
    row: dict
    study: object  # optuna.Study
    trials: dict = field(default_factory=dict)  # job id -> optuna trial (asked, not yet told)
    reported: dict = field(default_factory=dict)  # job id -> validation steps already reported
    # Trials reloaded after a restart with scores reported before it: whether to prune them was
    # never decided (the scheduler stopped first), so it is, once each runs again.
    recheck: set = field(default_factory=set)

    @property
    def spec(self) -> dict:
        return self.row["spec"]


def load_study(store: Store, row: dict) -> LiveStudy:
    """The Optuna study as its jobs and runs in the store say it stands: finished trials added
    with their scores, queued or running ones asked again with the same parameters."""
    from optuna.trial import TrialState, create_trial

    live = LiveStudy(row, new_study(row["spec"]["trials"]))
    dists = distributions(row["spec"]["space"])
    for job in store.study_jobs(row["id"]):
        if job.get("trial") is None:
            continue
        params = job["trial_params"]
        scores = validation_scores(store, job, row["spec"]["metric"])
        if job["status"] in TERMINAL:
            state = {"succeeded": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(job["status"], TrialState.FAIL)
            value = max(scores.values()) if state == TrialState.COMPLETE and scores else None
            if state == TrialState.COMPLETE and value is None:
                state = TrialState.FAIL
            live.study.add_trial(create_trial(params=params, distributions=dists, value=value, state=state,
                                              intermediate_values=scores))
        else:  # queued, running or interrupted: the same parameters, a trial Optuna waits on again
            live.study.enqueue_trial(params)
            trial = live.study.ask(dists)
            live.trials[job["id"]] = trial
            for step, score in sorted(scores.items()):
                trial.report(score, step)
            live.reported[job["id"]] = set(scores)
            if scores:
                live.recheck.add(job["id"])
    return live


def validation_scores(store: Store, job: dict, metric: str) -> dict[int, float]:
    """The job's run's validation scores by step (the study's metric)."""
    if job.get("run_id") is None:
        return {}
    try:
        evals = store.evals_df(job["run_id"])
    except Exception:  # noqa: BLE001 - its run was deleted: no scores
        return {}
    if evals is None or not len(evals) or metric not in evals:
        return {}
    rows = evals[(evals["split"] == "validation") & evals[metric].notna()]
    return {int(s): float(v) for s, v in zip(rows["step"], rows[metric])}


class Tuner:
    """The studies of one database, driven by its scheduler (`tick` on each of its ticks)."""

    def __init__(self, store: Store, submit: Callable[[list[tuple[RunConfig, dict]]], list[str]],
                 prune: Callable[[str], None]):
        """submit([(config, job fields)]) queues jobs and returns their ids; prune(job_id) stops one."""
        self.store, self.submit, self.prune = store, submit, prune
        self.live: dict[str, LiveStudy] = {}

    def active(self) -> bool:
        return bool(self.store.studies_records(status="running"))

    def tick(self) -> None:
        for row in self.store.studies_records(status="running"):
            if row["id"] not in self.live:
                self.live[row["id"]] = load_study(self.store, row)
            self._advance(self.live[row["id"]])
        for study_id in [s for s, live in self.live.items() if live.row.get("status") != "running"]:
            del self.live[study_id]

    # ---- one study --------------------------------------------------------------------------

    def _advance(self, live: LiveStudy) -> None:
        from optuna.trial import TrialState

        spec, study_id = live.spec, live.row["id"]
        jobs = self.store.study_jobs(study_id)
        trial_jobs = [j for j in jobs if j.get("trial") is not None]
        for job in trial_jobs:
            trial = live.trials.get(job["id"])
            if trial is None:
                continue
            scores = validation_scores(self.store, job, spec["metric"])
            new = sorted(set(scores) - live.reported.setdefault(job["id"], set()))
            if job["status"] == "running" and job["id"] in live.recheck:
                live.recheck.discard(job["id"])
                new = new or [None]  # decide on the scores reported before the restart
            for step in new:
                if step is not None:
                    trial.report(scores[step], step)
                    live.reported[job["id"]].add(step)
                if job["status"] == "running" and trial.should_prune():
                    log.info("study %s: trial %s pruned at step %s", study_id, job["trial"], step)
                    self.prune(job["id"])
                    break
            if job["status"] in TERMINAL:
                if job["status"] == "succeeded" and scores:
                    live.study.tell(trial, max(scores.values()))
                elif job["status"] == "pruned":
                    live.study.tell(trial, state=TrialState.PRUNED)
                else:
                    live.study.tell(trial, state=TrialState.FAIL)
                del live.trials[job["id"]]
        waiting = sum(j["status"] in ("queued", "running", "interrupted") for j in trial_jobs)
        asked = len(trial_jobs)
        asking = []
        while asked < spec["trials"] and waiting < spec["parallel"]:
            asking.append(live.study.ask(distributions(spec["space"])))
            asked += 1
            waiting += 1
        if asking:
            ids = self.submit([self._job(spec, study_id, t.number, t.params) for t in asking])
            live.trials.update(zip(ids, asking))
            return
        if asked >= spec["trials"] and waiting == 0:
            self._finish(live, jobs)

    @staticmethod
    def _job(spec: dict, study_id: str, number: int, params: dict, *,
             seed: Optional[int] = None) -> tuple[RunConfig, dict]:
        tuned = seed is not None
        config = trial_config(spec, params, tag="tuned" if tuned else "trial", seed=seed)
        # a study begun before experiments existed: its own, as the store's migration named it
        experiment = spec.get("experiment") or {"id": f"study-{study_id}", "name": f"{spec['base']['method']} tuning",
                                                "kind": "tune"}
        return config, {"study_id": study_id, "trial": None if tuned else number, "trial_params": params,
                        "experiment": experiment}

    def _finish(self, live: LiveStudy, jobs: list[dict]) -> None:
        """Trials done: queue the best setting over the seeds; re-runs done: the study is done."""
        study_id, spec = live.row["id"], live.spec
        reruns = [j for j in jobs if j.get("trial") is None]
        if not reruns:
            from optuna.trial import TrialState

            # Only trials that ran to the end: Optuna gives a pruned trial its last reported value,
            # which a trial stopped half-way must never win with.
            complete = [t for t in live.study.trials if t.state == TrialState.COMPLETE and t.value is not None
                        and math.isfinite(t.value)]
            if not complete:
                self._close(live, status="failed", error="no trial finished with a validation score")
                return
            best = max(complete, key=lambda t: t.value)
            self.store.update_study(study_id, best={"params": best.params, "value": best.value,
                                                    "trial": best.number})
            self.submit([self._job(spec, study_id, best.number, best.params, seed=spec["base"]["seed"] + i)
                         for i in range(spec["seeds"])])
        elif all(j["status"] in TERMINAL for j in reruns):
            self._close(live, status="done")

    def _close(self, live: LiveStudy, status: str, error: Optional[str] = None) -> None:
        self.store.update_study(live.row["id"], status=status, finished_at=time.time(), error=error)
        live.row = {**live.row, "status": status}


def study_figures(store: Store, row: dict) -> dict:
    """Optuna's own Plotly figures of a study: optimization history, parameter importances (2 or
    more finished trials), parallel coordinates, in the current language (label_study_figures).
    {} for a study with no finished trial."""
    from optuna import visualization
    from optuna.trial import TrialState

    study = load_study(store, row).study
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not done:
        return {}
    score = score_name(row["spec"]["metric"])
    out = {"history": visualization.plot_optimization_history(study, target_name=score),
           "parallel": visualization.plot_parallel_coordinate(study, target_name=score)}
    if len(done) >= 2 and len(row["spec"]["space"]) >= 2:
        out["importance"] = visualization.plot_param_importances(study, target_name=score)
    return label_study_figures(out, score)


def score_name(metric: str) -> str:
    """What a trial's value is, in the current language: its best validation score ("Validation accuracy")."""
    return text.t("metric_title", split=text.t("split_validation"), metric=text.t(f"metric_{metric}", metric),
                  unit="")


# The names Optuna gives the optimization history's lines (in English) -> catalogue keys.
HISTORY_TRACES = {"Best Value": "tune_fig_best", "Infeasible Trial": "tune_fig_infeasible"}


def label_study_figures(figs: dict, score: str) -> dict:
    """Optuna's figures (study_figures, drawn with `score` as their target name) with titles, axis
    titles and legend names in the current language: Optuna writes its own in English. Changes
    `figs` in place and returns it."""
    history = figs.get("history")
    if history is not None:
        history.update_layout(title_text=text.t("tune_fig_history"))
        history.update_xaxes(title_text=text.t("tune_fig_trial"))
        history.update_yaxes(title_text=score)
        for trace in history.data:  # each trial's point, named after the target; the best so far
            if trace.name == score:
                trace.name = text.t("tune_fig_trials")
            elif trace.name in HISTORY_TRACES:
                trace.name = text.t(HISTORY_TRACES[trace.name])
    importance = figs.get("importance")
    if importance is not None:
        importance.update_layout(title_text=text.t("tune_fig_importance"))
        importance.update_xaxes(title_text=text.t("tune_fig_importance_axis"))
        importance.update_yaxes(title_text=text.t("tune_fig_parameter"))
    parallel = figs.get("parallel")
    if parallel is not None:  # its axes: the score (target name), then the searched settings by name
        parallel.update_layout(title_text=text.t("tune_fig_parallel"))
    return figs
