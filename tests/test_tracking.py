"""Trackers (RunConfig.report_to): each store read back with the tracker's own reader, the mirror
written by the process that writes DuckDB (never a worker), `ftlab sync` back-filling MLflow,
and a missing or broken tracker never costing a run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftlab import tracking
from ftlab.config import RunConfig
from ftlab.errors import ConfigError, FtlabError
from ftlab.queue.scheduler import Scheduler
from ftlab.service import Lab
from ftlab.store import Store

REPO = Path(__file__).resolve().parents[1]
RUN = ["--model", "tiny", "--method", "lora", "--max-train", "64", "--max-eval", "16", "--batch-size", "16",
       "--max-steps", "6", "--eval-every", "2"]


def _env(tmp_path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "WANDB_SILENT": "true",
            "TRACKIO_DIR": str(tmp_path / "trackio"), "MLFLOW_TRACKING_URI": "", "OMP_NUM_THREADS": "1"}


def _ftlab(args, env, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "ftlab", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _mlflow_runs(db: Path):
    import mlflow

    mlflow.set_tracking_uri(tracking.mlflow_uri(str(db)))
    return mlflow.search_runs(experiment_names=["ftlab"])


def test_a_run_reaches_all_four_trackers_and_each_reads_it_back(keyword_csv, tmp_path):
    env = _env(tmp_path)
    _ftlab(["train", *RUN, "--dataset", keyword_csv, "--report-to", "mlflow,tensorboard,trackio,wandb",
            "--db", "lab.duckdb"], env, tmp_path)
    db = tmp_path / "lab.duckdb"
    with Store(str(db)) as store:
        run = store.runs_records()[0]
        steps = store.steps_df(run["id"])
        evals = store.evals_df(run["id"])
    assert run["status"] == "succeeded" and not [m for m in run.get("logs", []) if "report_to" in m]
    losses = dict(zip(steps["step"].astype(int), steps["loss"]))
    test_acc = float(evals[evals["split"] == "test"]["accuracy"].iloc[0])

    # MLflow: params, the final metrics, the loss series at its steps, the ftlab run id
    from mlflow.tracking import MlflowClient

    found = _mlflow_runs(db)
    assert len(found) == 1
    row = found.iloc[0]
    assert row["params.method"] == "lora" and row["params.max_train"] == "64"
    assert row["tags.ftlab.run_id"] == str(run["id"]) and row["status"] == "FINISHED"
    assert row["metrics.final/accuracy"] == pytest.approx(run["accuracy"])
    assert int(float(row["params.trainable_params"])) == run["trainable_params"]
    history = MlflowClient(tracking.mlflow_uri(str(db))).get_metric_history(row["run_id"], "train/loss")
    assert {m.step: m.value for m in history} == pytest.approx(losses)

    # TensorBoard: the event files, read with its own reader
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = tracking.trackers_dir(str(db)) / "tensorboard" / f"run-{run['id']}"
    events = EventAccumulator(str(folder))
    events.Reload()
    assert {e.step: e.value for e in events.Scalars("train/loss")} == pytest.approx(losses)
    assert events.Scalars("test/accuracy")[-1].value == pytest.approx(test_acc)
    assert "validation/accuracy" in events.Tags()["scalars"]

    # Trackio: its local store, read through its own API in a process that has TRACKIO_DIR set
    read = subprocess.run([sys.executable, "-c", (
        "import json; from trackio.api import Api; from trackio.sqlite_storage import SQLiteStorage\n"
        "runs = list(Api().runs('ftlab')); r = runs[0]\n"
        "print(json.dumps({'n': len(runs), 'config': r.config, 'logs': SQLiteStorage.get_logs('ftlab', r.name)}))")],
        capture_output=True, text=True, env=env, timeout=120)
    assert read.returncode == 0, read.stderr[-2000:]
    got = json.loads(read.stdout.strip().splitlines()[-1])
    assert got["n"] == 1 and got["config"]["method"] == "lora"
    logged = {e["step"]: e["train/loss"] for e in got["logs"] if "train/loss" in e}
    assert logged == pytest.approx(losses)
    assert [e["final/accuracy"] for e in got["logs"] if "final/accuracy" in e] == pytest.approx([run["accuracy"]])

    # W&B offline: the run's transaction log, decoded with wandb's own record type
    [log] = list((tracking.trackers_dir(str(db)) / "wandb").glob("offline-run-*/run-*.wandb"))
    config, summary, history = {}, {}, {}
    for record in _wandb_records(log):
        kind = record.WhichOneof("record_type")
        items = {"run": lambda: record.run.config.update, "config": lambda: record.config.update,
                 "summary": lambda: record.summary.update, "history": lambda: record.history.item}.get(kind)
        values = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in (items() if items else [])}
        {"run": config, "config": config, "summary": summary}.get(kind, {}).update(values)
        if kind == "history" and "train/loss" in values:
            history[values["_step"]] = values["train/loss"]
    assert config["method"] in ("lora", {"value": "lora"}) and history == pytest.approx(losses)
    assert summary["final/accuracy"] == pytest.approx(run["accuracy"]) and summary["status"] == "succeeded"


def _wandb_records(path: Path):
    """The records of a W&B offline run file: a 7-byte header, then LevelDB-log framing (32 KiB
    blocks; each chunk a 7-byte header of CRC, length and kind; kind 1 a whole record, 2-4 its
    first, middle and last pieces) around wandb's protobuf Record."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    pos, pieces = 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # the rest of a block is padding
            pos += left
            continue
        pieces += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pieces)
            pieces = b""
            yield record


def test_ftlab_sync_backfills_mlflow_once(keyword_csv, tmp_path, monkeypatch, capsys):
    """The commands in this process (the test above runs them as a user does, in their own)."""
    from ftlab import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    assert cli.main(["train", *RUN, "--dataset", keyword_csv, "--db", "lab.duckdb"]) == 0
    db = tmp_path / "lab.duckdb"
    assert not tracking.trackers_dir(str(db)).exists()  # nothing mirrored without report_to
    capsys.readouterr()
    assert cli.main(["sync", "--to", "mlflow", "--db", "lab.duckdb"]) == 0
    assert "run 1: sent to mlflow" in capsys.readouterr().out
    assert cli.main(["sync", "--to", "mlflow", "--db", "lab.duckdb"]) == 0
    assert "run 1: already in mlflow" in capsys.readouterr().out
    with Store(str(db)) as store:
        run = store.runs_records()[0]
        steps = store.steps_df(run["id"])
    found = _mlflow_runs(db)
    assert len(found) == 1 and found.iloc[0]["metrics.final/accuracy"] == pytest.approx(run["accuracy"])
    from mlflow.tracking import MlflowClient

    history = MlflowClient(tracking.mlflow_uri(str(db))).get_metric_history(found.iloc[0]["run_id"], "train/loss")
    assert {m.step: m.value for m in history} == pytest.approx(dict(zip(steps["step"].astype(int), steps["loss"])))


def test_the_scheduler_mirrors_what_its_workers_send(keyword_csv, tmp_path):
    """The worker is another process; the event files come from the scheduler's (this one)."""
    db = str(tmp_path / "q.duckdb")
    with Store(db) as store:
        sched = Scheduler(store, db, slots=["cpu"])
        try:
            [job] = sched.submit([RunConfig(model="tiny", dataset=keyword_csv, method="lora", max_train=64,
                                            max_eval=16, batch_size=16, max_steps=4, report_to="tensorboard")], 0, None)
            deadline = time.monotonic() + 240
            while store.get_job(job)["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
                sched.tick()
                time.sleep(0.1)
            assert store.get_job(job)["status"] == "succeeded", store.get_job(job)
            run_id = store.get_job(job)["run_id"]
        finally:
            sched.shutdown()
    files = list((tracking.trackers_dir(db) / "tensorboard" / f"run-{run_id}").glob("events.out.tfevents.*"))
    assert files and {int(f.name.rsplit(".", 2)[1]) for f in files} == {os.getpid()}


def test_a_missing_or_broken_tracker(keyword_csv, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown tracker 'mlfow'"):
        RunConfig(report_to="mlfow")
    assert RunConfig(report_to="mlflow").hash == RunConfig().hash  # where it is reported is not what it computes
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name))
    with Lab(str(tmp_path / "a.duckdb")) as lab:  # refused at launch, nothing queued
        with pytest.raises(FtlabError, match=r"report_to wandb: the wandb package is not installed \(pip install wandb\)"):
            lab.submit([RunConfig(model="tiny", dataset=keyword_csv, max_steps=1, report_to="wandb")])
        assert lab.jobs() == []
    monkeypatch.undo()
    # a tracker that fails mid-way is dropped with one line in the run's log; the run succeeds
    from ftlab import service

    (tmp_path / "a-file").write_text("")  # no folder can be made under a file
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}")
    with Store(str(tmp_path / "b.duckdb")) as store:
        run_id, summary, err = service.train_now(
            RunConfig(model="tiny", dataset=keyword_csv, max_train=32, max_eval=16, max_steps=2,
                      report_to="mlflow,tensorboard"), store, db_path=str(tmp_path / "b.duckdb"))
        run = store.get_run(run_id)
    assert err is None and run["status"] == "succeeded"
    assert [m for m in run["logs"] if m.startswith("report_to mlflow: stopped mirroring this run")]
    assert list((tmp_path / "b-trackers" / "tensorboard" / f"run-{run_id}").glob("events.out.tfevents.*"))
