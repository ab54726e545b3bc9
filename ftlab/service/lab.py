"""`Lab`: the jobs and runs of one database, for the CLI and the dashboard. Its commands and reads
live here; what it does with trained runs, ownership and uploads, previews and studies live in the
mixins beside it (trained.py, ownership.py, previews.py, studies.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from ftlab import uploads
from ftlab.config import RunConfig
from ftlab.policy import Policy
from ftlab.provenance import real_db_path
from ftlab.service.ownership import Ownership
from ftlab.service.previews import Caches, Previews
from ftlab.service.studies import Studies
from ftlab.service.trained import TrainedRuns
from ftlab.service.training import missing_baselines
from ftlab.store import Store

ANSWER_ROOM_SAMPLE = 500  # train examples a generative launch's max_length is checked on


class Lab(TrainedRuns, Ownership, Previews, Studies):
    """Jobs and runs of one database, for the CLI and the dashboard.

    If this process can open the database, it owns it: with `start_scheduler=True` a scheduler
    thread runs the queue here (the dashboard), otherwise commands apply directly (the CLI with
    no scheduler running). If another process holds the database (a running `ftlab worker` or
    dashboard), commands go through its inbox and reads come from its snapshot.
    """

    def __init__(self, db_path: str = "ftlab.duckdb", *, start_scheduler: bool = False, jobs_per_gpu: int = 1,
                 cpu_slots: int = 1, backend: str = "local", ray_address: Optional[str] = None,
                 slots: Optional[list[str]] = None, policy: Optional[Policy] = None, spare_workers: bool = False):
        import threading

        from ftlab.errors import FtlabError
        from ftlab.queue.scheduler import Scheduler

        self.db_path = real_db_path(db_path)  # a symlink reaches the same inbox, lock and artifacts
        self.policy = policy or Policy()
        self.store: Optional[Store] = None
        self.scheduler = None
        self.held_by: Optional[str] = None  # remote mode: the store's line saying who holds the database
        self.caches = Caches()
        self._stop = threading.Event()
        self._thread = None
        try:
            self.store = Store(self.db_path)
        except FtlabError as err:
            if start_scheduler or "in use" not in str(err):
                raise
            self.held_by = str(err)
            return  # remote mode: another process holds the database
        runner = None
        if backend == "ray":
            from ftlab.queue.ray_backend import RayBackend

            runner = RayBackend(address=ray_address)
            slots = slots or runner.slots(jobs_per_gpu)
        elif backend == "zerogpu":
            from ftlab.queue.zerogpu import ZeroGPUBackend

            runner = ZeroGPUBackend()
            slots = slots or runner.slots
        self.scheduler = Scheduler(self.store, self.db_path, backend=runner, slots=slots, jobs_per_gpu=jobs_per_gpu,
                                   cpu_slots=cpu_slots, spare_workers=spare_workers)
        if start_scheduler:
            self._thread = threading.Thread(target=self.scheduler.run, kwargs={"stop": self._stop}, daemon=True,
                                            name="ftlab-scheduler")
            self._thread.start()

    @property
    def remote(self) -> bool:
        return self.store is None

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self.scheduler.shutdown()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- commands ---------------------------------------------------------------------------
    def submit(self, configs: list[RunConfig], priority: int = 0, owner: Optional[str] = None,
               baselines: bool = False, experiment: Optional[dict] = None) -> list[str]:
        """Queue validated configs for `owner`; returns their job ids. Nothing is queued if any
        config is invalid or the policy refuses it (caps, sign-in, jobs per user). With `baselines`,
        the grid's baseline runs (`RunConfig.baselines`) not yet run or queued go in first, owned by
        no one and outside the per-user caps. Every job joins `experiment` (a record of
        ftlab.experiments.new_experiment, or an existing one's {"id", "name"}), by default a new one
        named after the launch."""
        from ftlab.experiments import new_experiment
        from ftlab.queue import inbox
        from ftlab.queue.scheduler import job_specs

        if not self.policy.is_open:  # skips reading the jobs when there is nothing to check
            configs = self.policy.admit(configs, owner, self.jobs(), uploads=str(uploads.root(self.db_path)))
        self.check_inputs(configs, user=owner)
        # Baselines are shared references (no owner), outside the per-user caps: seconds each, same model and data.
        groups = [(self.missing_baselines(configs) if baselines else [], None), (list(configs), owner)]
        experiment = experiment or new_experiment(list(configs), owner=owner)
        ids: list[str] = []
        for group, who in groups:
            if not group:
                continue
            if self.remote:
                specs = job_specs(group, priority, who, experiment=experiment)
                inbox.send(self.db_path, {"op": "submit", "jobs": specs})
                ids += [s["id"] for s in specs]
            else:
                ids += self.scheduler.submit(group, priority, who, experiment=experiment)
        return ids

    def experiments(self) -> list[dict]:
        """Every experiment of this database, newest first, with its run counts (Store.experiments_records)."""
        return self._own_store().experiments_records()

    def rename_experiment(self, experiment_id: str, name: str, user: Optional[str] = None) -> str:
        """Give an experiment a new name; on a shared dashboard only its owner may (ftlab.policy)."""
        from ftlab.errors import FtlabError
        from ftlab.queue import inbox

        from ftlab.policy import PermissionDenied

        if not str(name or "").strip():
            raise FtlabError("an experiment's name cannot be empty")
        if not self.policy.can_launch:
            raise PermissionDenied("this dashboard is read-only (leaderboard mode): cannot rename experiments")
        if self.remote:
            if not self.policy.is_open:  # who owns what is in the database: the process holding it checks
                raise PermissionDenied("rename experiments from the dashboard that holds the database")
            inbox.send(self.db_path, {"op": "rename", "experiment": experiment_id, "name": str(name)})
            return "sent to the running scheduler"
        found = next((e for e in self.store.experiments_records() if e["id"] == experiment_id), None)
        if found is None:
            raise FtlabError(f"experiment {experiment_id!r} does not exist")
        if self.policy.owner_only and (not user or found.get("owner") != user):
            raise PermissionDenied("sign in with Hugging Face to rename experiments" if not user else
                                   f"you can rename only your own experiments ({found['name']!r} is "
                                   f"{found.get('owner') or 'nobody'}'s)")
        self.store.rename_experiment(experiment_id, name)
        return "renamed"

    def missing_baselines(self, configs: list[RunConfig]) -> list[RunConfig]:
        """The baseline configs of `configs` that no run (not failed) or live job of this database has."""
        return missing_baselines(configs, self.runs(), self.jobs())

    def check_inputs(self, configs: list[RunConfig], user: Optional[str] = None) -> None:
        """What a job needs before it may queue, checked once per distinct model and dataset of a
        grid: the model resolves (built-in, model folder, cached, or on the Hub), an uploaded file
        is `user`'s own (on a shared dashboard), and the dataset loads with its columns, at least
        two classes and the config's task. Raises the one-line reason; a RunConfig alone checks
        only what needs no loading."""
        from ftlab import data, models, tracking

        tracking.check(dict.fromkeys(t for c in configs for t in c.report_to))
        for spec in dict.fromkeys(c.dataset for c in configs):
            self.check_upload_owner(spec, user)
        for parent in dict.fromkeys(c.init_from for c in configs if c.init_from):
            self.check_private(parent, user, "trained weights")  # continuing a run starts from its weights
        for name in dict.fromkeys(c.model for c in configs):
            models.check_available(name)
        checked = set()
        for c in configs:
            key = (c.dataset, c.text_column, c.label_column, c.encoding, c.split_seed, c.task)
            if key in checked:
                continue
            loaded = self._ui_dataset(*key)
            data.require_task(loaded, c.dataset, c.task)
            checked.add(key)
        from ftlab import methods

        trained = [c for c in configs if methods.get_method(c.method).trains]
        for c in {(c.model, c.dataset, c.text_column, c.label_column, c.max_length, c.task, c.max_train): c
                  for c in trained}.values():
            self._check_answer_room(c)

    def _check_answer_room(self, config: RunConfig) -> None:
        """A generative run that trains, whose max_length leaves most answers no room, is refused
        before it queues, with the length that would do (the engine refuses it the same way)."""
        from ftlab import models
        from ftlab.data import Split
        from ftlab.tasks import get_task
        from ftlab.train.engine import Reached, learnable

        task = get_task(config.task)
        if task.trainable_rows is None:
            return
        loaded = self._ui_dataset(config.dataset, config.text_column, config.label_column, config.encoding,
                                  config.split_seed, config.task)
        n = min(len(loaded.train), config.max_train or len(loaded.train), ANSWER_ROOM_SAMPLE)
        encoded = task.encode(Split(loaded.train.texts[:n], loaded.train.labels[:n]),
                              models.load_tokenizer(config.model), config.max_length)
        learnable(encoded, task.trainable_rows(encoded), config, Reached(t_start=0.0))

    def sync(self, tracker: str, run_ids: Optional[list[int]] = None, progress: Callable[[str], None] = print) -> int:
        """Mirror stored runs into an experiment tracker (ftlab.tracking.sync); returns how many were sent."""
        from ftlab import tracking

        return tracking.sync(self._own_store(), self.db_path, tracker, run_ids, progress)

    def _command(self, op: str, job_id: str, **extra) -> str:
        from ftlab.queue import inbox

        if self.remote:
            inbox.send(self.db_path, {"op": op, "job": job_id, **extra})
            return "sent to the running scheduler"
        if op == "cancel":
            return self.scheduler.cancel(job_id)
        if op == "retry":
            return self.scheduler.retry(job_id)
        self.scheduler.set_priority(job_id, extra["priority"])
        return f"priority {extra['priority']}"

    def _job(self, job_id: str, jobs: Optional[list[dict]] = None) -> dict:
        from ftlab.errors import FtlabError

        if jobs is None:  # the one job, not the whole queue
            job = self._find_job(job_id)
        else:
            job = next((j for j in jobs if j["id"] == job_id), None)
        if job is None:
            raise FtlabError(f"job {job_id} does not exist; `python -m ftlab jobs` lists them")
        return job

    def cancel(self, job_id: str, user: Optional[str] = None) -> str:
        self.policy.check_owner(self._job(job_id), user, "cancel")
        return self._command("cancel", job_id)

    def cancel_many(self, job_ids: list[str], user: Optional[str] = None) -> dict[str, str]:
        """Cancel several jobs at once: the queued ones in one store transaction, so none of them
        starts while the rest are being canceled. Every job is checked (exists, `user` may cancel
        it) before any is canceled. Returns {job id: outcome} ("sent" through another process's inbox)."""
        from ftlab.errors import FtlabError
        from ftlab.queue import inbox

        if not job_ids:
            raise FtlabError("name the jobs to cancel (ftlab jobs lists them)")
        jobs = self.jobs()
        for job_id in job_ids:
            self.policy.check_owner(self._job(job_id, jobs), user, "cancel")
        if self.remote:
            inbox.send(self.db_path, {"op": "cancel", "jobs": list(job_ids)})
            return {job_id: "sent to the running scheduler" for job_id in job_ids}
        return self.scheduler.cancel_many(list(job_ids))

    def retry(self, job_id: str, user: Optional[str] = None) -> str:
        from ftlab.queue.scheduler import check_retry

        jobs = self.jobs()
        job = self._job(job_id, jobs)
        self.policy.check_owner(job, user, "retry")
        check_retry(job)
        self.policy.check_quota(user, jobs, adding=1)
        return self._command("retry", job_id)

    def set_priority(self, job_id: str, priority: int, user: Optional[str] = None) -> str:
        from ftlab.queue.inbox import check_priority

        priority = check_priority(priority)
        self.policy.check_owner(self._job(job_id), user, "re-prioritise")
        return self._command("priority", job_id, priority=priority)

    # ---- reads --------------------------------------------------------------------------------
    def _snapshot(self) -> dict:
        from ftlab.errors import FtlabError
        from ftlab.queue import inbox

        snap = inbox.read_snapshot(self.db_path)
        if snap is None:
            raise FtlabError(f"{self.db_path} is held by another process and it has written no snapshot yet; retry")
        return snap

    def jobs(self) -> list[dict]:
        jobs = self._all_jobs()
        self._sweep_now_and_then(jobs)
        return jobs

    def _all_jobs(self) -> list[dict]:
        return self._snapshot()["jobs"] if self.remote else self.store.jobs_records()

    def _find_job(self, job_id: str) -> Optional[dict]:
        """One job by id, or None: from the store, or from another process's snapshot (its state
        file first, which holds the running jobs and the first page of the queue)."""
        if not self.remote:
            from ftlab.errors import FtlabError

            try:
                return self.store.get_job(job_id)
            except FtlabError:
                return None
        from ftlab.queue import inbox

        state = inbox.read_state(self.db_path) or {}
        job = next((j for j in state.get("jobs") or [] if j.get("id") == job_id), None)
        return job or next((j for j in self._snapshot()["jobs"] if j["id"] == job_id), None)

    def jobs_page(self, queued: int) -> dict:
        """The Queue tab's view, read at the same cost however long the queue: {"jobs": the running
        jobs, the first `queued` queued ones (queue order; from another process's snapshot at most
        its page, ftlab.queue.inbox.PAGE) and the finished ones, "counts": {status: n} over every
        job}. The jobs left out are counts["queued"] less the queued jobs listed."""
        if self.remote:
            from ftlab.errors import FtlabError
            from ftlab.queue import inbox

            snap = inbox.read_snapshot(self.db_path, queue=False)
            if snap is None:
                raise FtlabError(f"{self.db_path} is held by another process and it has written no snapshot yet; retry")
            jobs, counts = snap["jobs"], snap["counts"]
        else:
            self._sweep_now_and_then(None)  # the uploads' retention, as Lab.jobs() applies it
            jobs = self.store.jobs_records(queued_limit=queued)
            if sum(j["status"] == "queued" for j in jobs) < queued:  # every job is listed: count them here
                counts = {}
                for j in jobs:
                    counts[j["status"]] = counts.get(j["status"], 0) + 1
            else:
                counts = self.store.job_counts()
        shown = [j for j in jobs if j.get("status") == "queued"][:max(0, int(queued))]
        keep = {id(j) for j in shown}
        return {"jobs": [j for j in jobs if j.get("status") != "queued" or id(j) in keep], "counts": dict(counts)}

    def jobs_view(self, user: Optional[str] = None) -> list[dict]:
        """The jobs as `user` may see them: another visitor's without its log (ftlab.policy)."""
        return [job if self.policy.may_take(job.get("owner"), user) else {**job, "last_log": None, "log_path": None}
                for job in self.jobs()]

    def runs(self, **filters) -> list[dict]:
        """Runs as JSON-ready dicts, each with its "label": the method and what sets the run apart in
        its experiment ("lora (tuned, 256 examples)"), as the dashboard names it."""
        from ftlab.charts.settings import run_name

        if self.remote:
            runs = [r for r in self._snapshot()["runs"] if all(r.get(k) == v for k, v in filters.items())]
        else:
            runs = self.store.runs_records(**filters)
        return [{**r, "label": run_name(r.get("method"), r.get("config"))} for r in runs]

    def scheduler_status(self) -> Optional[str]:
        """None while the queue's scheduler works; else one line saying what is wrong, for the Queue
        tab: "scheduler: database error, retrying (N): ..." while it retries, or that it stopped."""
        if self.remote:
            import time

            from ftlab.queue import inbox

            snap = inbox.read_state(self.db_path)  # the status is in the state file: no need for the history
            if snap is None:
                return None
            quiet = time.time() - inbox.snapshot_path(self.db_path).stat().st_mtime
            if quiet > inbox.STALE_AFTER_S:
                return (f"scheduler: no news for {quiet:.0f} s; the process holding {self.db_path} is not "
                        "running a scheduler, or it is stuck")
            return snap.get("scheduler")
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            return "scheduler: stopped; queued jobs will not start until the dashboard restarts"
        return self.scheduler.health

    def rejected_commands(self) -> list[dict]:
        """Commands sent to a running scheduler that could never apply (not JSON, unknown op, no such
        job, a job in the wrong state), oldest first: {"file", "reason", "command"}."""
        from ftlab.queue import inbox

        return inbox.rejected(self.db_path)

    def job_log(self, job_id: str, user: Optional[str] = None) -> str:
        """A job's whole log: its owner's on a shared dashboard (ftlab.policy)."""
        job = self._job(job_id)
        self.policy.check_private(job.get("owner"), user, "log", f"job {job_id}")
        path = job.get("log_path")
        return Path(path).read_text(errors="replace") if path and Path(path).exists() else ""

    def _own_store(self) -> Store:
        """The store, for what needs the database itself; held by another process, the same one
        line that process's lock gives ("... is in use by another ftlab process (pid N) ...")."""
        from ftlab.errors import FtlabError

        if self.remote:
            raise FtlabError(self.held_by or f"database {self.db_path} is in use by another ftlab process")
        return self.store

    def own(self) -> "Lab":
        """This Lab, if it holds the database (a scheduler, `ftlab worker`, needs it); else the one
        line saying which process does."""
        self._own_store()
        return self

    def runs_df(self, **filters):
        """Runs as the DataFrame ftlab.charts takes (Store.runs_df): one row per run, oldest first."""
        return self._own_store().runs_df(**filters)

    def curves(self, run_ids: list[int]):
        """(steps_df, evals_df) of these runs, for loss and evaluation curves."""
        store = self._own_store()
        return store.steps_df(list(run_ids)), store.evals_df(list(run_ids))

    def run_detail(self, run_id: int, user: Optional[str] = None) -> dict:
        """Everything the Run tab shows: the run row (get_run, with logs), steps, evals, per-class
        scores, a generative run's test generations, and "private": True where the logs and weights are another visitor's (the logs and
        the weights' folder are then left out; ftlab.policy)."""
        store = self._own_store()
        run_id = int(run_id)
        run = store.get_run(run_id)
        private = not self.policy.may_take(self.run_owner(run_id), user)
        if private:
            run = {**run, "logs": [], "artifact_dir": None}
        return {"run": run, "steps": store.steps_df(run_id), "evals": store.evals_df(run_id),
                "classes": store.class_results_df(run_id),
                # the test prompts and references are the data's: another visitor's run keeps them
                "generations": store.generations_df(run_id, limit=0) if private else store.generations_df(run_id),
                "private": private}

    def generations(self, run_id: int, wrong_only: bool = False, user: Optional[str] = None):
        """A generative run's stored test examples: prompt, reference, generation, the answers read
        from both, and whether they match (Store.generations_df); on a shared dashboard, for the
        run's owner only (its prompts are the owner's data)."""
        self.check_private(int(run_id), user, "test generations")
        return self._own_store().generations_df(int(run_id), wrong_only=wrong_only)
