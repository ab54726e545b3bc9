"""The one API the CLI and the dashboard use: plain values in, plain values out.

`train_now` trains in the calling process (the CLI's `train` and `run`); `Lab` queues jobs for a
scheduler. Either way one process writes the store, from the engine's events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from ftlab.config import RunConfig
from ftlab.policy import Policy
from ftlab import uploads
from ftlab.provenance import real_db_path, run_dir, versions
from ftlab.store import Store


def train_now(config: RunConfig, store: Store, *, db_path: str = "ftlab.duckdb",
              on_event: Optional[Callable[[dict], None]] = None, save: bool = True) -> tuple[int, Optional[dict], Optional[str]]:
    """Record a run, train it here, record every event. Returns (run_id, summary or None, error or None).

    Errors are recorded with the run (status failed, reason, metrics reached), then returned as
    one line, never raised: a grid goes on after one run fails. KeyboardInterrupt propagates.
    """
    from ftlab import tracking
    from ftlab.train import train

    tracking.check(config.report_to)
    db_path = real_db_path(db_path)  # through a symlink: the same artifacts folder as every other process
    run_id = store.create_run(config.to_dict(), config.hash, model=config.model, dataset=config.dataset,
                              task=config.task, method=config.method, seed=config.seed, versions=versions())
    error: Optional[str] = None
    mirror = tracking.Mirror(db_path, lambda _: config.to_dict(),
                             lambda rid, message: store.record_event(rid, {"event": "log", "message": message}))

    def emit(event: dict) -> None:
        nonlocal error
        if event["event"] == "failed":
            error = event["error"]
        store.record_event(run_id, event)
        mirror.event(run_id, event)
        if on_event:
            on_event(event)

    out_dir = str(run_dir(db_path, run_id)) if save else None
    init_dir = str(run_dir(db_path, config.init_from)) if config.init_from else None
    try:
        summary = train(config, emit, artifact_dir=out_dir, init_dir=init_dir)
    except KeyboardInterrupt:
        store.set_status(run_id, "failed", "interrupted by the user")
        mirror.end(run_id, "interrupted")
        raise
    except Exception:
        return run_id, None, error or "failed"
    return run_id, summary, None


def absent(configs: list[RunConfig], runs: list[dict], jobs: list[dict]) -> list[RunConfig]:
    """The distinct configs of `configs` whose hash is neither a run that did not fail nor a job
    still queued or running: what a grid still has to run."""
    have = {r.get("config_hash") for r in runs if r.get("status") not in ("failed", "canceled")}
    have |= {j.get("config_hash") for j in jobs if j.get("status") in ("queued", "running")}
    wanted: dict[str, RunConfig] = {}
    for config in configs:
        if config.hash not in have:
            wanted.setdefault(config.hash, config)
    return list(wanted.values())


def missing_baselines(configs: list[RunConfig], runs: list[dict], jobs: list[dict]) -> list[RunConfig]:
    """The baselines (RunConfig.baselines) of the runs in `configs` that train, not yet run or queued."""
    return absent([b for c in configs if methods_train(c) for b in c.baselines()], runs, jobs)


def methods_train(config: RunConfig) -> bool:
    from ftlab import methods

    return methods.get_method(config.method).trains


class Lab:
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
               baselines: bool = False) -> list[str]:
        """Queue validated configs for `owner`; returns their job ids. Nothing is queued if any
        config is invalid or the policy refuses it (caps, sign-in, jobs per user). With `baselines`,
        the grid's baseline runs (`RunConfig.baselines`) not yet run or queued go in first, owned by
        no one and outside the per-user caps."""
        from ftlab.queue import inbox
        from ftlab.queue.scheduler import job_specs

        if not self.policy.is_open:  # skips reading the jobs when there is nothing to check
            configs = self.policy.admit(configs, owner, self.jobs(), uploads=str(uploads.root(self.db_path)))
        self.check_inputs(configs, user=owner)
        # Baselines are shared references (no owner), outside the per-user caps: seconds each, same model and data.
        groups = [(self.missing_baselines(configs) if baselines else [], None), (list(configs), owner)]
        ids: list[str] = []
        for group, who in groups:
            if not group:
                continue
            if self.remote:
                specs = job_specs(group, priority, who)
                inbox.send(self.db_path, {"op": "submit", "jobs": specs})
                ids += [s["id"] for s in specs]
            else:
                ids += self.scheduler.submit(group, priority, who)
        return ids

    def export(self, run_id: int, fmt: str, out_dir: str, user: Optional[str] = None) -> str:
        """Write a succeeded run as a standard peft adapter or merged transformers folder with a Hub
        model card (ftlab.train.export); returns the folder. The run's owner's (ftlab.policy)."""
        from ftlab.train import export

        run, art = self._trained(run_id, "export", user)
        return export.export(art, fmt, out_dir, run)

    def weights_path(self, run_id: int, user: Optional[str] = None) -> str:
        """A succeeded run's trained-weights folder, for its owner to download (ftlab.policy)."""
        return self._trained(run_id, "download", user)[1]

    def _trained(self, run_id: int, what: str, user: Optional[str] = None) -> tuple[dict, str]:
        """A succeeded run and its artifacts folder, or the one-line reason there is none or that
        `user` may not take it (another visitor's run on a shared dashboard)."""
        from ftlab.errors import FtlabError

        run = self._own_store().get_run(int(run_id))
        self.check_private(int(run_id), user, "trained weights")
        art = self.artifact_path(run)
        if run.get("status") != "succeeded" or not art or not Path(art).is_dir():
            raise FtlabError(f"run {run_id} has no trained weights to {what} (status {run.get('status')})")
        return run, art

    def push(self, run_id: int, repo: str, fmt: str = "auto", token: Optional[str] = None,
             private: bool = False, user: Optional[str] = None) -> str:
        """Upload a succeeded run's export to the Hub model repo `repo`; returns its URL."""
        from ftlab.train import export

        run, art = self._trained(run_id, "push", user)
        return export.push(art, run, repo, fmt=fmt, token=token, private=private)

    # ---- what a visitor may take of a run (ftlab.policy) -------------------------------------
    def run_owner(self, run_id: int) -> Optional[str]:
        """Who owns run `run_id`: the owner of the job that made it; None for a run no visitor owns
        (a baseline, a run trained from the command line or seeded by the operator)."""
        if not self.remote:
            return self.store.run_owner(int(run_id))
        return next((j.get("owner") for j in self.jobs() if j.get("run_id") == int(run_id)), None)

    def usable_runs(self, user: Optional[str] = None) -> list[dict]:
        """The runs whose weights `user` may use (the Playground's choices): every run locally; on a
        shared dashboard theirs and those nobody owns (ftlab.policy)."""
        runs = self.runs()
        if not self.policy.owner_only:
            return runs
        owners = {j.get("run_id"): j.get("owner") for j in self.jobs() if j.get("run_id") is not None}
        return [r for r in runs if self.policy.may_take(owners.get(r["id"]), user)]

    def check_private(self, run_id: int, user: Optional[str], what: str) -> None:
        """PermissionDenied unless `user` may take `what` (weights, logs) of run `run_id`."""
        self.policy.check_private(self.run_owner(run_id), user, what, f"run {run_id}")

    def sync(self, tracker: str, run_ids: Optional[list[int]] = None, progress: Callable[[str], None] = print) -> int:
        """Mirror stored runs into an experiment tracker (ftlab.tracking.sync); returns how many were sent."""
        from ftlab import tracking

        return tracking.sync(self._own_store(), self.db_path, tracker, run_ids, progress)

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
                                  config.split_seed)
        if list(loaded.label_names) != list(run.get("label_names") or []):
            raise FtlabError(f"{dataset} has labels {list(loaded.label_names)}, run {run_id} has "
                             f"{list(run.get('label_names') or [])}: a continual run needs the same label names")
        return self.submit([config], owner=owner, baselines=True)

    def tune(self, base: RunConfig, method_names: list[str], *, trials: int = 6, seeds: int = 3, parallel: int = 1,
             name: Optional[str] = None, baselines: bool = True) -> list[dict]:
        """Queue one tuning study per method over `base` (ftlab.queue.tuning): the same trials and
        the same steps per trial for each, then the best setting re-run over `seeds` seeds, and
        the default setting over the same seeds beside it. Returns the studies (id, method, spec)."""
        import math

        from ftlab.queue import inbox
        from ftlab.queue.tuning import study_specs

        self.check_inputs([base])
        loaded = self._ui_dataset(base.dataset, base.text_column, base.label_column, base.encoding, base.split_seed)
        n_train = min(len(loaded.train), base.max_train or len(loaded.train))
        per_epoch = math.ceil(n_train / (base.batch_size * base.grad_accum))
        steps = base.max_steps or max(1, math.ceil(base.epochs * per_epoch))
        studies = study_specs(base, method_names, trials=trials, seeds=seeds, steps=steps, parallel=parallel,
                              name=name)
        defaults = [base.replace(method=m, lr=None, tag=None, seed=base.seed + i)
                    for m in method_names for i in range(seeds)]
        self.submit(absent(defaults, self.runs(), self.jobs()), baselines=baselines)
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
            key = (c.dataset, c.text_column, c.label_column, c.encoding, c.split_seed)
            if key in checked:
                continue
            data.require_task(self._ui_dataset(*key), c.dataset, c.task)
            checked.add(key)

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

        job = next((j for j in (self.jobs() if jobs is None else jobs) if j["id"] == job_id), None)
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

    SWEEP_EVERY_S = 3600.0

    def _sweep_now_and_then(self, jobs: list[dict]) -> None:
        """The uploads' retention rule, applied at most once an hour by whoever lists the jobs (the
        Queue tab does every few seconds), so a quiet dashboard keeps no stale upload either."""
        import time

        if self.remote or time.monotonic() - self.__dict__.get("_swept", -1e18) < self.SWEEP_EVERY_S:
            return
        self._swept = time.monotonic()
        self.sweep_uploads(jobs)

    def jobs_view(self, user: Optional[str] = None) -> list[dict]:
        """The jobs as `user` may see them: another visitor's without its log (ftlab.policy)."""
        return [job if self.policy.may_take(job.get("owner"), user) else {**job, "last_log": None, "log_path": None}
                for job in self.jobs()]

    def runs(self, **filters) -> list[dict]:
        if self.remote:
            runs = self._snapshot()["runs"]
            return [r for r in runs if all(r.get(k) == v for k, v in filters.items())]
        return self.store.runs_records(**filters)

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

    # ---- uploads (ftlab.uploads) ---------------------------------------------------------------
    def save_upload(self, tmp_path: str, user: Optional[str] = None) -> str:
        """Keep an uploaded dataset file for `user` (the same rules as launching, a per-user quota;
        ftlab.policy); returns its path. Uploads no job or run names are swept first."""
        if not self.remote:  # the process that holds the database knows every job and run
            self.sweep_uploads()
        size = Path(tmp_path).stat().st_size if tmp_path and Path(tmp_path).is_file() else 0
        mine = uploads.folder(self.db_path, user)
        self.policy.check_upload(user, uploads.usage(mine), size)
        return uploads.save(tmp_path, mine)

    def sweep_uploads(self, jobs: Optional[list[dict]] = None) -> list[str]:
        """Remove the uploads that no job (`jobs`, else all of them) or stored run names, once older
        than the policy's retention (ftlab.uploads.sweep); returns the removed paths."""
        if jobs is None:
            jobs = self._all_jobs()
        in_use = [(j.get("config") or {}).get("dataset") for j in jobs] + [r.get("dataset") for r in self.runs()]
        return uploads.sweep(uploads.root(self.db_path), in_use, self.policy.upload_retention_s)

    def check_upload_owner(self, spec: str, user: Optional[str]) -> None:
        """PermissionDenied for another visitor's uploaded file on a shared dashboard."""
        self.policy.check_upload_owner(spec, str(uploads.root(self.db_path)), str(uploads.folder(self.db_path, user)))

    # ---- dashboard helpers (ftlab/ui); heavy imports stay inside the methods --------------------
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
        scores, and "private": True where the logs and weights are another visitor's (the logs and
        the weights' folder are then left out; ftlab.policy)."""
        store = self._own_store()
        run_id = int(run_id)
        run = store.get_run(run_id)
        private = not self.policy.may_take(self.run_owner(run_id), user)
        if private:
            run = {**run, "logs": [], "artifact_dir": None}
        return {"run": run, "steps": store.steps_df(run_id), "evals": store.evals_df(run_id),
                "classes": store.class_results_df(run_id), "private": private}

    @staticmethod
    def resolve_artifacts(db_path: str, artifact_dir: Optional[str]) -> Optional[str]:
        """A stored weights path: a relative one is relative to the database's folder, so a
        database moved together with its -artifacts/ folder (a built Space) still finds them."""
        if not artifact_dir or Path(artifact_dir).is_absolute():
            return artifact_dir
        beside = Path(db_path).resolve().parent / artifact_dir
        return str(beside) if beside.is_dir() else artifact_dir  # else: relative to where it was trained

    def artifact_path(self, run: dict) -> Optional[str]:
        """A run's trained-weights folder (see resolve_artifacts)."""
        return self.resolve_artifacts(self.db_path, run.get("artifact_dir"))

    def _ui_cache(self, name: str) -> dict:
        import threading

        caches = self.__dict__.setdefault("_ui_caches", {"lock": threading.Lock()})
        with caches["lock"]:
            return caches.setdefault(name, {})

    def _ui_dataset(self, spec: str, text_column=None, label_column=None, encoding=None, split_seed: int = 0):
        """A loaded dataset, cached per spec (built-ins parse in 0.1-1.5 s; files may change, so a
        file's size and modification time are part of the key)."""
        from ftlab import data

        if self.policy.caps is not None:
            self.policy.check_dataset(spec, str(uploads.root(self.db_path)))
        p = Path(spec)
        stamp = (p.stat().st_size, p.stat().st_mtime) if p.is_file() else None
        key = (spec, text_column, label_column, encoding, split_seed, stamp)
        cache = self._ui_cache("datasets")
        if key not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[key] = data.load_dataset(spec, split_seed=split_seed, text_column=text_column,
                                           label_column=label_column, encoding=encoding)
        return cache[key]

    def dataset_card(self, spec: str, *, model: Optional[str] = None, max_length: int = 128,
                     text_column: Optional[str] = None, label_column: Optional[str] = None,
                     encoding: Optional[str] = None, user: Optional[str] = None) -> dict:
        """ftlab.data.dataset_card of a dataset (an upload only for who uploaded it, on a shared
        dashboard); with `model`, also its tokenizer's view ([UNK] rate, token lengths). A tokenizer
        that cannot load leaves `tokenizer_error` instead of failing."""
        from ftlab import data, models
        from ftlab.errors import FtlabError

        self.check_upload_owner(spec, user)
        key = (spec, model, int(max_length), text_column, label_column, encoding)
        cache = self._ui_cache("cards")
        if key in cache:
            return cache[key]
        loaded = self._ui_dataset(spec, text_column, label_column, encoding)
        tokenizer, problem = None, None
        if model:
            try:
                tokenizer = models.load_tokenizer(model)
            except FtlabError as err:
                problem = str(err)
        card = data.dataset_card(loaded, tokenizer, int(max_length))
        if problem:
            card["tokenizer_error"] = problem
        cache[key] = card
        return card

    def estimate(self, config: RunConfig, *, probe: bool = False) -> dict:
        """Parameter counts of `config`'s model with its method applied (built once on CPU, cached),
        and the split sizes its caps give: {trainable_params, total_params, head_params, n_train,
        n_eval}. With `probe`, also the train/eval samples/s of a few timed steps on this machine
        (ftlab.train.probe; cached like the counts)."""
        from ftlab import metrics
        from ftlab.train.artifacts import build_untrained

        loaded = self._ui_dataset(config.dataset, config.text_column, config.label_column, config.encoding,
                                  config.split_seed)
        n_train = min(len(loaded.train), config.max_train or len(loaded.train))
        n_eval = min(len(loaded.validation), config.max_eval or len(loaded.validation))
        key = (config.model, config.task, len(loaded.label_names), config.method,
               config.method_options.model_dump_json())
        probe_key = key + (config.dataset, config.batch_size, config.max_length, config.precision, config.device)
        cache, probes = self._ui_cache("params"), self._ui_cache("probes")
        if key not in cache or (probe and probe_key not in probes):
            model, tokenizer, ctx = build_untrained(config, list(loaded.label_names), train=loaded.train)
            cache[key] = metrics.count_parameters(model, ctx.head_prefixes)
            if probe:
                from ftlab.train.probe import probe_rates

                probes[probe_key] = probe_rates(model, tokenizer, config, loaded.train)
            del model
        return {**cache[key], "n_train": n_train, "n_eval": n_eval, **(probes.get(probe_key, {}) if probe else {})}

    def predict(self, run_id: int, texts: list[str], user: Optional[str] = None) -> dict:
        """Predictions of a trained run on raw texts: {"task", "predictions": [...]}, for the run's
        owner on a shared dashboard (ftlab.policy). The trained weights load once per run (the last
        4 runs stay in memory)."""
        run, art = self._trained(run_id, "load", user)
        cache = self._ui_cache("predictors")
        predictor = cache.get(int(run_id))
        if predictor is None:
            from ftlab.train import artifacts

            predictor = artifacts.load(art)
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[int(run_id)] = predictor
        return {"task": run.get("task"), "predictions": predictor.predict(list(texts))}
