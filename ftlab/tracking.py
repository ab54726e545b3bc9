"""Mirror runs into the experiment trackers a team already uses: MLflow, TensorBoard, Trackio, W&B.

`RunConfig.report_to` names a run's trackers. The process that writes the store (the scheduler,
or the CLI's `train_now`) hands every event it records to a `Mirror`, which forwards it to that
run's trackers: the config and parameter counts when it starts, the training series (loss,
learning rate, throughput), each evaluation, and the final metrics when it ends. Workers never
talk to a tracker, so a tracker sees exactly what the database holds. A tracker that fails is
dropped for that run with one log line in the run; training goes on.

`replay(store, run_id)` rebuilds a stored run's events, so `ftlab sync --to TRACKER` back-fills
runs recorded before (or without) a tracker through the same code.

Where each writes (local stores beside the database, `ftlab-trackers/` for `ftlab.duckdb`, unless
the tracker's own setting says otherwise):
- mlflow: $MLFLOW_TRACKING_URI, else `sqlite:///ftlab-trackers/mlflow.db`; experiment
  $MLFLOW_EXPERIMENT_NAME or "ftlab"; runs tagged `ftlab.run_id` and `ftlab.db`.
- tensorboard: `ftlab-trackers/tensorboard/run-<id>/` event files.
- trackio: Trackio's own store ($TRACKIO_DIR, else ~/.cache/huggingface/trackio), project "ftlab".
- wandb: project $WANDB_PROJECT or "ftlab", files under `ftlab-trackers/`; $WANDB_MODE=offline
  keeps it on disk (`wandb sync` uploads it later).

Imports ftlab.errors and the standard library; a tracker's package only when a run uses it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from ftlab.errors import FtlabError, one_line

log = logging.getLogger(__name__)

STEP_SERIES = ("loss", "lr", "samples_per_s", "tokens_per_s", "epoch")


def trackers_dir(db_path: str) -> Path:
    """Local tracker stores beside the database: ftlab.duckdb -> ftlab-trackers/."""
    p = Path(db_path)
    return p.with_name(p.stem + "-trackers")


def flat_params(config: dict) -> dict[str, str]:
    """A run config as flat string parameters: method_options.r = '8'; empty fields left out."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if key == "report_to":
            continue
        if isinstance(value, dict):
            out.update({f"{key}.{k}": _text(v) for k, v in value.items() if v is not None})
        elif value is not None:
            out[key] = _text(value)
    return out


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _numbers(mapping: dict, prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in (mapping or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v}


@dataclass
class Opened:
    """What a sink is told when its run starts."""
    run_id: int
    db_path: str
    name: str  # "run 12 lora minilm tweets-sentiment"
    params: dict[str, str]  # the flat config
    counts: dict[str, float]  # total_params, trainable_params, ..., dataset sizes, total_steps


class Sink:
    """One run in one tracker. Subclasses write; `log` gets {name: value} at an optimizer step."""

    def __init__(self, run: Opened):
        self.run = run

    def log(self, values: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def finish(self, final: dict[str, float], status: str) -> None:
        """status: succeeded, failed, canceled or interrupted."""
        raise NotImplementedError


class MlflowSink(Sink):
    def __init__(self, run: Opened):
        super().__init__(run)
        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=mlflow_uri(run.db_path))
        experiment = self.client.get_experiment_by_name(mlflow_experiment())
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(mlflow_experiment())
        tags = {"ftlab.run_id": str(run.run_id), "ftlab.db": str(Path(run.db_path).resolve())}
        self.id = self.client.create_run(experiment_id, run_name=run.name, tags=tags).info.run_id
        params = {**run.params, **{k: _text(int(v) if v == int(v) else v) for k, v in run.counts.items()}}
        items = [Param(k, v[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.id, params=items[i:i + 100], tags=[RunTag("ftlab.method", run.params["method"])]
                                  if i == 0 else [])

    def log(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def finish(self, final: dict[str, float], status: str) -> None:
        if final:
            self.log(final, 0)
        state = {"succeeded": "FINISHED", "canceled": "KILLED", "interrupted": "KILLED"}.get(status, "FAILED")
        self.client.set_terminated(self.id, status=state)


class TensorBoardSink(Sink):
    def __init__(self, run: Opened):
        super().__init__(run)
        from torch.utils.tensorboard import SummaryWriter

        folder = trackers_dir(run.db_path) / "tensorboard" / f"run-{run.run_id}"
        self.writer = SummaryWriter(log_dir=str(folder))
        table = "\n".join(f"| {k} | {v} |" for k, v in sorted(run.params.items()))
        self.writer.add_text("config", f"{run.name}\n\n| field | value |\n|---|---|\n{table}", 0)

    def log(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def finish(self, final: dict[str, float], status: str) -> None:
        hparams = {k: v for k, v in self.run.params.items() if k in ("method", "model", "dataset", "lr", "seed",
                                                                      "epochs", "batch_size", "max_train")}
        self.writer.add_hparams(hparams, {**final} or {"final/none": 0.0}, run_name=".")
        self.writer.add_text("status", status, 0)
        self.writer.close()


class TrackioSink(Sink):
    def __init__(self, run: Opened):
        super().__init__(run)
        import trackio

        with contextlib.redirect_stdout(sys.stderr):  # its notices would mix with a command's output
            self.handle = trackio.init(project=os.environ.get("TRACKIO_PROJECT") or "ftlab", name=run.name,
                                       config={**run.params, **run.counts})

    def log(self, values: dict[str, float], step: int) -> None:
        self.handle.log(values, step=step)

    def finish(self, final: dict[str, float], status: str) -> None:
        if final:
            self.handle.log({**final, "final/status_ok": float(status == "succeeded")})
        with contextlib.redirect_stdout(sys.stderr):
            self.handle.finish()


class WandbSink(Sink):
    def __init__(self, run: Opened):
        super().__init__(run)
        import wandb

        folder = trackers_dir(run.db_path)
        folder.mkdir(parents=True, exist_ok=True)
        self.handle = wandb.init(project=os.environ.get("WANDB_PROJECT") or "ftlab", name=run.name,
                                 config={**run.params, **run.counts}, dir=str(folder), reinit="create_new",
                                 tags=[run.params.get("method", "")], settings=wandb.Settings(silent=True))

    def log(self, values: dict[str, float], step: int) -> None:
        self.handle.log(values, step=step)

    def finish(self, final: dict[str, float], status: str) -> None:
        self.handle.summary.update({**final, "status": status})
        self.handle.finish(exit_code=0 if status == "succeeded" else 1)


@dataclass(frozen=True)
class Tracker:
    name: str
    module: str  # the import that proves it is installed
    install: str
    sink: type


TRACKERS: dict[str, Tracker] = {t.name: t for t in (
    Tracker("mlflow", "mlflow", "pip install mlflow-skinny", MlflowSink),
    Tracker("tensorboard", "tensorboard", "pip install tensorboard", TensorBoardSink),
    Tracker("trackio", "trackio", "pip install trackio", TrackioSink),
    Tracker("wandb", "wandb", "pip install wandb", WandbSink),
)}
NAMES = tuple(TRACKERS)


def mlflow_uri(db_path: str) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(trackers_dir(db_path) / 'mlflow.db').resolve()}"


def mlflow_experiment() -> str:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ftlab"


def unknown(names) -> Optional[str]:
    """Why `names` are not all trackers (RunConfig's check and `check`), or None."""
    bad = [n for n in names or () if n not in TRACKERS]
    return f"report_to: unknown tracker {bad[0]!r} (known: {', '.join(NAMES)})" if bad else None


def check(names) -> None:
    """Refuse, before anything is queued, trackers this machine lacks: one line naming the install."""
    reason = unknown(names)
    if reason:
        raise FtlabError(reason)
    for name in names or ():
        tracker = TRACKERS[name]
        if importlib.util.find_spec(tracker.module) is None:
            raise FtlabError(f"report_to {name}: the {tracker.module} package is not installed ({tracker.install})")


class Mirror:
    """Forwards recorded events to each run's trackers. One per store-writing process.

    `config_of(run_id)` gives a run's stored config (asked once per run, on its first event);
    `note(run_id, message)` records a line in the run's log (a tracker that failed)."""

    def __init__(self, db_path: str, config_of: Callable[[int], dict],
                 note: Optional[Callable[[int, str], None]] = None):
        self.db_path, self.config_of, self.note = db_path, config_of, note or (lambda run_id, message: None)
        self.sinks: dict[int, dict[str, Sink]] = {}
        self.configs: dict[int, dict] = {}

    def event(self, run_id: int, event: dict) -> None:
        if run_id not in self.configs:
            config = self.config_of(run_id) or {}
            self.configs[run_id] = config if config.get("report_to") else {}
        config = self.configs[run_id]
        if not config:
            return
        kind = event.get("event")
        if kind == "started" and run_id not in self.sinks:
            self._open(run_id, config, event)
        elif kind == "step":
            values = {f"train/{k}": v for k, v in _numbers(event).items() if k in STEP_SERIES}
            self._each(run_id, "log", values, int(event["step"]))
        elif kind == "eval":
            values = _numbers(event.get("metrics") or {}, f"{event.get('split')}/")
            self._each(run_id, "log", values, int(event.get("step") or 0))
        elif kind in ("finished", "failed"):
            summary = event.get("summary") or {}
            status = "failed" if kind == "failed" else (
                "canceled" if summary.get("stopped_reason") == "canceled" else "succeeded")
            self.end(run_id, status, summary)

    def end(self, run_id: int, status: str, summary: Optional[dict] = None) -> None:
        """Close the run's trackers (a job that ended without a final event closes as `status`)."""
        final = _numbers(summary or {}, "final/")
        self._each(run_id, "finish", final, status)
        self.sinks.pop(run_id, None)
        self.configs.pop(run_id, None)

    def _open(self, run_id: int, config: dict, event: dict) -> None:
        data = event.get("dataset") or {}
        counts = {**_numbers(event.get("params") or {}), **_numbers(data.get("sizes") or {}, "examples_"),
                  **_numbers({"total_steps": event.get("total_steps")})}
        run = Opened(run_id, self.db_path, f"run {run_id} {config.get('method')} {config.get('model')} "
                     f"{config.get('dataset')}", flat_params(config), counts)
        opened = {}
        for name in config["report_to"]:
            try:
                opened[name] = TRACKERS[name].sink(run)
            except Exception as err:  # noqa: BLE001 - a tracker never stops a run
                self._failed(run_id, name, err)
        self.sinks[run_id] = opened

    def _each(self, run_id: int, what: str, *args) -> None:
        for name, sink in list(self.sinks.get(run_id, {}).items()):
            try:
                getattr(sink, what)(*args)
            except Exception as err:  # noqa: BLE001
                del self.sinks[run_id][name]
                self._failed(run_id, name, err)

    def _failed(self, run_id: int, name: str, err: Exception) -> None:
        message = f"report_to {name}: stopped mirroring this run: {one_line(err)}"
        log.warning("run %s: %s", run_id, message)
        self.note(run_id, message)


def replay(store, run_id: int) -> Iterator[dict]:
    """A stored run as the events that recorded it: started, its steps and evaluations in step
    order, then finished (or failed)."""
    run = store.get_run(run_id)
    params = {k: run.get(k) for k in ("total_params", "trainable_params", "head_params", "trainable_non_head_params")}
    yield {"event": "started", "params": params, "total_steps": run.get("total_steps"),
           "dataset": {"sizes": run.get("dataset_sizes") or {}}}
    events = []
    for row in store.steps_df(run_id).to_dict("records"):
        events.append((int(row["step"]), 0, {"event": "step", **row}))
    evals = store.evals_df(run_id)
    for row in evals.to_dict("records"):
        metrics = {k: v for k, v in row.items() if k not in ("run_id", "step", "split", "time")}
        events.append((int(row["step"]), 1, {"event": "eval", "step": int(row["step"]), "split": row["split"],
                                             "metrics": metrics}))
    for _, _, event in sorted(events, key=lambda e: (e[0], e[1])):
        yield event
    summary = run.get("summary") or {}
    yield {"event": "finished" if run.get("status") != "failed" else "failed", "summary": summary}


def sync(store, db_path: str, tracker: str, run_ids: Optional[list[int]] = None,
         progress: Callable[[str], None] = print) -> int:
    """Mirror stored runs (default: every finished one) into `tracker`; returns how many were sent.
    MLflow skips runs already there (same ftlab.run_id and database); TensorBoard skips runs
    whose event folder exists."""
    check([tracker])
    done = already(tracker, db_path)
    runs = [r for r in store.runs_records() if r.get("status") in ("succeeded", "failed", "canceled")
            and (run_ids is None or r["id"] in run_ids)]
    sent = 0
    for r in runs:
        if r["id"] in done:
            progress(f"run {r['id']}: already in {tracker}")
            continue
        mirror = Mirror(db_path, lambda _: {**r["config"], "report_to": [tracker]},
                        note=lambda run_id, message: progress(f"run {run_id}: {message}"))
        for event in replay(store, r["id"]):
            mirror.event(r["id"], event)
        sent += 1
        progress(f"run {r['id']}: sent to {tracker}")
    return sent


def already(tracker: str, db_path: str) -> set[int]:
    """Runs of this database the tracker holds (MLflow, TensorBoard; empty for the others)."""
    if tracker == "tensorboard":
        folder = trackers_dir(db_path) / "tensorboard"
        return {int(p.name[4:]) for p in folder.glob("run-*") if p.name[4:].isdigit()} if folder.is_dir() else set()
    if tracker == "mlflow":
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=mlflow_uri(db_path))
        experiment = client.get_experiment_by_name(mlflow_experiment())
        if experiment is None:
            return set()
        where = f"tags.`ftlab.db` = '{Path(db_path).resolve()}'"
        return {int(r.data.tags["ftlab.run_id"]) for r in client.search_runs([experiment.experiment_id], where,
                                                                              max_results=50000)}
    return set()
