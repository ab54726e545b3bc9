"""Launches that are more than a grid: a tuning study per method (ftlab.queue.tuning) and a
continual run from another run's weights."""

from __future__ import annotations

from typing import Optional

from ftlab.config import RunConfig
from ftlab.service.training import absent


class Studies:
    """Mixed into `Lab` (ftlab.service.lab): uses `self.submit`, `self.check_inputs`, `self._ui_dataset`,
    `self.check_private`, `self.runs()`, `self.jobs()` and the store."""

    def tune(self, base: RunConfig, method_names: list[str], *, trials: int = 6, seeds: int = 3, parallel: int = 1,
             name: Optional[str] = None, baselines: bool = True, owner: Optional[str] = None) -> list[dict]:
        """Queue one tuning study per method over `base` (ftlab.queue.tuning): the same trials and
        the same steps per trial for each, then the best setting re-run over `seeds` seeds, and
        the default setting over the same seeds beside it. Returns the studies (id, method, spec)."""
        import math

        from ftlab.experiments import new_experiment
        from ftlab.queue import inbox
        from ftlab.queue.tuning import study_specs

        self.check_inputs([base])
        loaded = self._ui_dataset(base.dataset, base.text_column, base.label_column, base.encoding, base.split_seed,
                                  base.task)
        n_train = min(len(loaded.train), base.max_train or len(loaded.train))
        per_epoch = math.ceil(n_train / (base.batch_size * base.grad_accum))
        steps = base.max_steps or max(1, math.ceil(base.epochs * per_epoch))
        defaults = [base.replace(method=m, lr=None, tag=None, seed=base.seed + i)
                    for m in method_names for i in range(seeds)]
        experiment = new_experiment(defaults, kind="tune", name=name, owner=owner)  # trials, re-runs and defaults
        studies = study_specs(base, method_names, trials=trials, seeds=seeds, steps=steps, parallel=parallel,
                              name=name, experiment=experiment)
        self.submit(absent(defaults, self.runs(), self.jobs()), baselines=baselines, experiment=experiment)
        if self.remote:
            inbox.send(self.db_path, {"op": "study", "studies": studies})
        else:
            self.store.add_studies(studies)
        return studies

    def studies(self) -> list[dict]:
        """Every tuning study with its trials' jobs (local database only)."""
        store = self._own_store()
        return [{**st, "jobs": store.study_jobs(st["id"])} for st in store.studies_records()]

    def study_figures(self, study_id: str) -> dict:
        """Optuna's figures of one study ({"history", "parallel", "importance"}; fewer while few trials are done)."""
        from ftlab.errors import FtlabError
        from ftlab.queue.tuning import study_figures

        store = self._own_store()
        row = next((st for st in store.studies_records() if st["id"] == study_id), None)
        if row is None:
            raise FtlabError(f"no tuning study {study_id!r} in {self.db_path}")
        return study_figures(store, row)

    def continue_run(self, run_id: int, dataset: str, owner: Optional[str] = None, **changes) -> list[str]:
        """Queue a continual run: run `run_id`'s config on `dataset`, starting from its trained
        weights (RunConfig.init_from). Refused here, before queueing, when the run has no weights
        or the new data's label names differ."""
        from ftlab.errors import FtlabError

        run = self._own_store().get_run(int(run_id))
        self.check_private(int(run_id), owner, "trained weights")
        if run.get("status") != "succeeded":
            raise FtlabError(f"run {run_id} has no trained weights to continue (status {run.get('status')})")
        config = RunConfig(**run["config"]).replace(dataset=dataset, init_from=int(run_id), **changes)
        loaded = self._ui_dataset(config.dataset, config.text_column, config.label_column, config.encoding,
                                  config.split_seed, config.task)
        if list(loaded.label_names) != list(run.get("label_names") or []):
            raise FtlabError(f"{dataset} has labels {list(loaded.label_names)}, run {run_id} has "
                             f"{list(run.get('label_names') or [])}: a continual run needs the same label names")
        return self.submit([config], owner=owner, baselines=True)
