"""Training in this process and the grid's arithmetic: which configs still have to run, and the
baselines a grid needs."""

from __future__ import annotations

from typing import Callable, Optional

from ftlab.config import RunConfig
from ftlab.provenance import real_db_path, run_dir, versions
from ftlab.store import Store


def train_now(config: RunConfig, store: Store, *, db_path: str = "ftlab.duckdb",
              on_event: Optional[Callable[[dict], None]] = None, save: bool = True,
              experiment: Optional[dict] = None) -> tuple[int, Optional[dict], Optional[str]]:
    """Record a run in `experiment` (ftlab.experiments.new_experiment; by default a new one of this
    run alone), train it here, record every event. Returns (run_id, summary or None, error or None).

    Errors are recorded with the run (status failed, reason, metrics reached), then returned as
    one line, never raised: a grid goes on after one run fails. KeyboardInterrupt propagates.
    """
    from ftlab import tracking
    from ftlab.train import train

    tracking.check(config.report_to)
    db_path = real_db_path(db_path)  # through a symlink: the same artifacts folder as every other process
    from ftlab.experiments import new_experiment

    run_id = store.create_run(config.to_dict(), config.hash, model=config.model, dataset=config.dataset,
                              task=config.task, method=config.method, seed=config.seed, versions=versions(),
                              experiment=experiment or new_experiment([config]))
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
    """The baselines (RunConfig.baselines) of the runs in `configs` that train, not yet run or queued,
    and not in `configs` themselves: a grid that lists zero-shot for the same model, data and
    evaluation has its baseline (at the grid's own settings), and gets no second one."""
    listed = {(c.method, c.baseline_key()) for c in configs}
    return absent([b for c in configs if methods_train(c) for b in c.baselines()
                   if (b.method, b.baseline_key()) not in listed], runs, jobs)


def methods_train(config: RunConfig) -> bool:
    from ftlab import methods

    return methods.get_method(config.method).trains
