import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from ftlab.errors import FtlabError
from ftlab.store import MIGRATIONS, SCHEMA_VERSION, Store

REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0

RECORD_KEYS = {
    "id", "status", "model", "dataset", "task", "method", "seed", "config_hash", "accuracy",
    "macro_f1", "entity_f1", "trainable_params", "total_params", "head_params",
    "train_samples_per_s", "train_tokens_per_s", "eval_samples_per_s", "peak_memory_mb", "wall_s",
    "time_to_first_step_s", "error", "created_at", "finished_at", "device", "dataset_fingerprint",
    "versions", "config",
}


def new_run(store, *, method="lora", dataset="tweets", model="minilm", seed=0):
    config = {"model": model, "dataset": dataset, "method": method, "lr": 1e-4, "seed": seed,
              "method_options": {"r": 8, "alpha": 16}}
    return store.create_run(config, f"hash-{method}-{seed}", model=model, dataset=dataset,
                            task="text-classification", method=method, seed=seed,
                            versions={"torch": "2.13.0", "ftlab": "0.1.0"}, status="queued")


def started(time=T0):
    return {"event": "started", "time": time, "device": "cpu", "total_steps": 4,
            "params": {"total_params": 22_700_000, "trainable_params": 150_000,
                       "head_params": 1_155, "trainable_non_head_params": 148_845},
            "dataset": {"fingerprint": "abc123", "sizes": {"train": 80, "validation": 10, "test": 10},
                        "label_names": ["negative", "neutral", "positive"]}}


def step(n, loss=1.0):
    return {"event": "step", "time": T0 + n, "step": n, "epoch": n / 2, "loss": loss, "lr": 1e-4,
            "samples_per_s": 100.0, "tokens_per_s": 5000.0, "elapsed_s": float(n)}


def evaluation(n, split="validation", accuracy=0.5):
    return {"event": "eval", "time": T0 + n, "step": n, "split": split,
            "metrics": {"loss": 0.9, "accuracy": accuracy, "macro_f1": accuracy - 0.1},
            "eval_samples_per_s": 400.0}


def finished(time=T0 + 10):
    return {"event": "finished", "time": time,
            "summary": {"accuracy": 0.7, "macro_f1": 0.6, "eval_loss": 0.8, "wall_s": 10.0,
                        "train_samples_per_s": 100.0, "peak_memory_mb": 512.0,
                        "memory_kind": "rss", "steps": 4, "epochs": 2.0, "stopped_reason": "budget",
                        "extra_note": "kept in the JSON"},
            "per_class": [{"label": "negative", "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 4},
                          {"label": "neutral", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 3},
                          {"label": "positive", "precision": 0.6, "recall": 0.9, "f1": 0.72, "support": 3}],
            "confusion": [[3, 1, 0], [1, 1, 1], [0, 0, 3]], "report": "precision recall ..."}


def full_run(store, **kw):
    run_id = new_run(store, **kw)
    events = [started(), step(1, 1.2), step(2, 0.9), evaluation(2, accuracy=0.6),
              {"event": "log", "time": T0 + 3, "message": "epoch 1 done"},
              step(3, 0.7), step(4, 0.6), evaluation(4, accuracy=0.7), evaluation(4, "test", 0.68),
              finished()]
    for e in events:
        store.record_event(run_id, e)
    return run_id


def test_full_event_stream_round_trips():
    with Store() as store:
        run_id = full_run(store)
        assert run_id == 1
        run = store.get_run(run_id)
        assert run["status"] == "succeeded"
        assert run["config"]["method_options"] == {"r": 8, "alpha": 16}
        assert run["versions"] == {"torch": "2.13.0", "ftlab": "0.1.0"}
        assert run["device"] == "cpu" and run["total_steps"] == 4
        assert run["trainable_params"] == 150_000 and run["trainable_non_head_params"] == 148_845
        assert run["dataset_fingerprint"] == "abc123"
        assert run["dataset_sizes"] == {"train": 80, "validation": 10, "test": 10}
        assert run["label_names"] == ["negative", "neutral", "positive"]
        assert run["accuracy"] == 0.7 and run["memory_kind"] == "rss" and run["steps"] == 4
        assert run["summary"]["extra_note"] == "kept in the JSON"
        assert run["confusion"] == [[3, 1, 0], [1, 1, 1], [0, 0, 3]]
        assert run["report"].startswith("precision")
        assert run["started_at"] == "2023-11-14T22:13:20+00:00"
        assert run["finished_at"] == "2023-11-14T22:13:30+00:00"
        assert run["logs"] == ["epoch 1 done"]
        assert run["error"] is None

        runs = store.runs_df()
        assert list(runs["id"]) == [1] and runs.loc[0, "status"] == "succeeded"
        assert RECORD_KEYS <= set(runs.columns)

        steps = store.steps_df(run_id)
        assert list(steps.columns) == ["run_id", "step", "time", "epoch", "loss", "lr", "samples_per_s",
                                       "tokens_per_s", "elapsed_s"]
        assert list(steps["step"]) == [1, 2, 3, 4]
        assert list(steps["time"]) == [T0 + n for n in (1, 2, 3, 4)]  # the event's wall-clock time
        assert list(steps["loss"]) == [1.2, 0.9, 0.7, 0.6]

        evals = store.evals_df([run_id])
        assert list(evals.columns[:4]) == ["run_id", "step", "split", "eval_samples_per_s"]
        assert {"loss", "accuracy", "macro_f1"} <= set(evals.columns)
        assert list(zip(evals["step"], evals["split"], evals["accuracy"])) == [
            (2, "validation", 0.6), (4, "test", 0.68), (4, "validation", 0.7)]
        assert (evals["eval_samples_per_s"] == 400.0).all()

        classes = store.class_results_df()
        assert list(classes.columns) == ["run_id", "label", "precision", "recall", "f1", "support"]
        assert list(classes["label"]) == ["negative", "neutral", "positive"]
        assert list(classes["support"]) == [4, 3, 3]


def test_failed_run_keeps_partial_summary_and_error():
    with Store() as store:
        run_id = new_run(store)
        store.record_event(run_id, started())
        store.record_event(run_id, step(1))
        store.record_event(run_id, {"event": "failed", "time": T0 + 5,
                                    "error": "CUDA out of memory at step 2",
                                    "summary": {"accuracy": None, "train_samples_per_s": 90.0,
                                                "time_to_first_step_s": 1.5}})
        run = store.get_run(run_id)
        assert run["status"] == "failed"
        assert run["error"] == "CUDA out of memory at step 2"
        assert run["train_samples_per_s"] == 90.0 and run["time_to_first_step_s"] == 1.5
        assert run["accuracy"] is None
        assert run["total_params"] == 22_700_000  # from `started`, not erased by the summary
        assert run["finished_at"] is not None
        assert len(store.steps_df(run_id)) == 1


def test_resent_events_replace_instead_of_duplicating():
    with Store() as store:
        run_id = full_run(store)
        store.record_event(run_id, step(2, loss=0.85))
        store.record_event(run_id, evaluation(4, accuracy=0.75) | {"metrics": {"accuracy": 0.75}})
        store.record_event(run_id, finished())
        steps = store.steps_df(run_id)
        assert list(steps["step"]) == [1, 2, 3, 4]
        assert steps.loc[steps["step"] == 2, "loss"].item() == 0.85
        evals = store.evals_df(run_id)
        assert len(evals) == 3
        val4 = evals[(evals["step"] == 4) & (evals["split"] == "validation")].iloc[0]
        assert val4["accuracy"] == 0.75
        assert math.isnan(val4["macro_f1"])  # the resent eval replaced the whole evaluation
        assert len(store.class_results_df(run_id)) == 3


def test_filters_status_and_delete():
    with Store() as store:
        a = full_run(store, method="lora")
        b = new_run(store, method="full", dataset="weibo")
        c = new_run(store, method="lora", model="bert")
        assert list(store.runs_df(method="lora")["id"]) == [a, c]
        assert list(store.runs_df(dataset="weibo")["id"]) == [b]
        assert list(store.runs_df(model=["bert", "minilm"], method="lora")["id"]) == [a, c]
        assert list(store.runs_df(status="queued")["id"]) == [b, c]
        assert store.runs_df(status=[]).empty

        store.set_status(b, "canceled", error="canceled by user")
        run = store.get_run(b)
        assert run["status"] == "canceled" and run["error"] == "canceled by user"
        assert run["finished_at"] is not None
        with pytest.raises(ValueError):
            store.set_status(b, "done")

        store.delete_run(a)
        assert list(store.runs_df()["id"]) == [b, c]
        assert store.steps_df(a).empty and store.evals_df(a).empty and store.class_results_df(a).empty
        with pytest.raises(FtlabError, match="run 1 does not exist"):
            store.get_run(a)
        with pytest.raises(FtlabError):
            store.record_event(a, step(1))
        assert new_run(store) == 4  # ids are never reused


def test_records_are_json_ready():
    with Store() as store:
        full_run(store)
        new_run(store, method="full")
        records = store.runs_records()
        assert [r["id"] for r in records] == [1, 2]
        for record in records:
            assert RECORD_KEYS <= set(record)
        json.dumps(records, allow_nan=False)
        assert records[0]["config"]["lr"] == 1e-4 and records[0]["versions"]["torch"] == "2.13.0"
        assert records[1]["accuracy"] is None and records[1]["finished_at"] is None
        assert isinstance(records[1]["created_at"], str)
        assert [r["id"] for r in store.runs_records(method="full")] == [2]


def test_logs_keep_the_last_lines():
    with Store() as store:
        run_id = new_run(store)
        for i in range(205):
            store.record_event(run_id, {"event": "log", "time": T0 + i, "message": f"line {i}"})
        logs = store.get_run(run_id)["logs"]
        assert len(logs) == 200 and logs[0] == "line 5" and logs[-1] == "line 204"


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "sub" / "ftlab.duckdb"
    with Store(path) as store:
        run_id = full_run(store)
    with Store(path) as store:
        assert store.get_run(run_id)["accuracy"] == 0.7
        assert len(store.steps_df()) == 4
        assert new_run(store) == run_id + 1


def test_second_process_gets_a_clear_error(tmp_path):
    path = tmp_path / "ftlab.duckdb"
    script = textwrap.dedent("""
        import sys
        from ftlab.errors import FtlabError
        from ftlab.store import Store
        try:
            Store(sys.argv[1])
        except FtlabError as e:
            print(e)
            sys.exit(3)
    """)
    with Store(path):
        proc = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    message = proc.stdout.strip()
    assert "is in use by another ftlab process" in message and "--db" in message
    assert "\n" not in message


def test_not_a_duckdb_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some text\n" * 100)
    with pytest.raises(FtlabError, match="not a DuckDB database file"):
        Store(path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "ftlab.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(FtlabError, match="newer ftlab.*upgrade ftlab"):
        Store(path)


def test_migrates_a_v1_database(tmp_path):
    assert SCHEMA_VERSION > 1  # otherwise this test exercises no upgrade
    path = tmp_path / "old.duckdb"
    # Build the file an ftlab at schema v1 would have left, with one run in it.
    con = duckdb.connect(str(path))
    for version, statements in MIGRATIONS[:1]:
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(version)])
    con.execute("INSERT INTO runs (status, model, method, config, versions, accuracy) "
                "VALUES ('succeeded', 'minilm', 'lora', '{\"lr\": 0.001}', '{}', 0.8)")
    con.close()

    with Store(path) as store:
        run = store.get_run(1)
        assert run["config"] == {"lr": 0.001} and run["accuracy"] == 0.8
        assert run["memory_kind"] is None
        store.record_event(1, {"event": "log", "time": T0, "message": "after upgrade"})
        assert store.get_run(1)["logs"] == ["after upgrade"]
        assert new_run(store) == 2
    con = duckdb.connect(str(path))
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    con.close()


def database_at(path, version: int):
    """An open connection to a new database file as the ftlab of schema `version` built it."""
    con = duckdb.connect(str(path))
    for _, statements in [m for m in MIGRATIONS if m[0] <= version]:
        for sql in statements:
            con.execute(sql)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(version)])
    return con


def test_scores_move_to_long_form_and_every_listing_reads_the_same_values(tmp_path):
    """A v4 database (scores in columns of `runs`, as ftlab wrote them until v5) upgraded: runs_df,
    runs_records, get_run and a copy into another database give the values the columns held; a new
    run's scores are rows of `scores`, one per metric, and a task's metric needs no column."""
    path = tmp_path / "v4.duckdb"
    con = database_at(path, 4)
    written = {
        1: dict(task="classification", accuracy=0.8125, macro_f1=0.79, eval_loss=0.41),
        2: dict(task="ner", entity_f1=0.5, entity_precision=0.6, entity_recall=0.43, token_accuracy=0.95,
                eval_loss=0.2),
        3: dict(task="classification"),  # failed before any score
    }
    for run_id, values in written.items():
        columns = ", ".join(values)
        (made,) = con.execute(f"INSERT INTO runs (status, model, method, config, versions, {columns}) "
                              f"VALUES ('succeeded', 'tiny', 'lora', '{{}}', '{{}}', {', '.join('?' * len(values))}) "
                              "RETURNING id", list(values.values())).fetchone()
        assert made == run_id
    before = {r[0]: r for r in con.execute("SELECT id, accuracy, macro_f1, entity_f1, token_accuracy FROM runs").fetchall()}
    con.close()

    metrics = ("accuracy", "macro_f1", "entity_f1", "entity_precision", "entity_recall", "token_accuracy")
    with Store(path) as store:
        records = {r["id"]: r for r in store.runs_records()}
        frame = store.runs_df().set_index("id")
        for run_id, values in written.items():
            for metric in metrics:
                expected = values.get(metric)
                assert records[run_id][metric] == expected, (run_id, metric)
                assert store.get_run(run_id)[metric] == expected, (run_id, metric)
                shown = frame.loc[run_id, metric]
                assert (expected is None and math.isnan(shown)) or shown == expected, (run_id, metric)
            assert records[run_id]["eval_loss"] == values.get("eval_loss")
        assert before[1][1] == records[1]["accuracy"] and before[2][3] == records[2]["entity_f1"]
        rows = store._query("SELECT run_id, split, metric, value FROM scores ORDER BY run_id, metric", [])[1]
        assert (1, "test", "accuracy", 0.8125) in rows and len(rows) == 6 and not any(r[0] == 3 for r in rows)
        assert not {"accuracy", "entity_f1"} & set(store._query("SELECT * FROM runs LIMIT 0", [])[0])
        with Store() as other:
            copied = other.copy_run(store, 2)
            assert other.get_run(copied)["entity_f1"] == 0.5
        fresh = new_run(store)
        store.record_event(fresh, {"event": "finished", "time": T0, "summary": {"accuracy": 0.7, "macro_f1": 0.6}})
        assert store.get_run(fresh)["accuracy"] == 0.7 and store.get_run(fresh)["entity_f1"] is None
        assert len(store._query("SELECT * FROM scores WHERE run_id = ?", [fresh])[1]) == 2
        store.delete_run(fresh)
        assert store._query("SELECT * FROM scores WHERE run_id = ?", [fresh])[1] == []


def test_a_run_its_engine_stopped_on_a_cancel_is_canceled():
    store = Store()
    run_id = new_run(store)
    store.record_event(run_id, started())
    event = finished()
    event["summary"]["stopped_reason"] = "canceled"
    store.record_event(run_id, event)
    run = store.get_run(run_id)
    assert run["status"] == "canceled" and run["stopped_reason"] == "canceled" and run["accuracy"] == 0.7


def job(job_id="j1"):
    return {"id": job_id, "config": {"model": "tiny", "seed": 0}, "config_hash": "h", "priority": 0, "time": T0}


def test_jobs_added_twice_are_queued_once():
    """A command applied again after a crash (before its inbox file was removed) queues nothing new."""
    store = Store()
    store.add_jobs([job("j1")])
    store.update_job("j1", status="running")
    store.add_jobs([job("j1"), job("j2")])
    assert [(j["id"], j["status"]) for j in store.jobs_records()] == [("j1", "running"), ("j2", "queued")]


def test_start_job_gives_a_job_its_run_in_one_step():
    store = Store()
    store.add_jobs([job("j1"), job("j2")])
    run = dict(config={"model": "tiny"}, config_hash="h", model="tiny", dataset="d", task="text-classification",
               method="lora", seed=0, versions={})
    run_id = store.start_job("j1", run, device="cpu", attempts=1, started_at=T0, log_path="j1.log")
    j = store.get_job("j1")
    assert (j["status"], j["run_id"], j["device"], j["attempts"]) == ("running", run_id, "cpu", 1)
    assert store.get_run(run_id)["status"] == "queued"
    store.record_event(run_id, started())
    store.record_event(run_id, step(1))
    store.update_job("j1", status="queued")
    assert store.start_job("j1", {**run, "config": {"model": "tiny", "batch_size": 4}}, attempts=2) == run_id
    assert store.steps_df(run_id).empty and store.get_run(run_id)["config"] == {"model": "tiny", "batch_size": 4}

    store.update_job("j2", status="canceled")
    with pytest.raises(FtlabError, match="j2 is canceled"):
        store.start_job("j2", run, attempts=1)
    assert store.get_job("j2")["run_id"] is None and len(store.runs_records()) == 1  # no orphan run


def test_experiments_hold_what_one_launch_queued_and_older_runs_move_into_one(tmp_path):
    """A v6 database upgraded: a study's jobs and their runs become that study's experiment, every
    other run one experiment of earlier runs. After it, a job queued in an experiment gives its run
    that experiment; the listing names it; a rename shows everywhere; counts are per experiment."""
    path = tmp_path / "v6.duckdb"
    con = database_at(path, 6)
    for _ in range(3):
        con.execute("INSERT INTO runs (status, model, method, config, versions, created_at) "
                    "VALUES ('succeeded', 'tiny', 'lora', '{}', '{}', now())")
    con.execute("INSERT INTO studies (id, name, method, status, spec, created_at) "
                "VALUES ('s1', 'tune-a', 'lora', 'done', '{}', now())")
    con.execute("INSERT INTO jobs (id, status, config, run_id, study_id, trial) VALUES ('j1', 'succeeded', '{}', 3, 's1', 0)")
    con.execute("INSERT INTO jobs (id, status, config, run_id) VALUES ('j2', 'succeeded', '{}', 2)")
    con.execute("INSERT INTO jobs (id, status, config) VALUES ('j3', 'queued', '{}')")
    con.close()

    with Store(path) as store:
        runs = store.runs_df().set_index("id")
        assert runs.loc[3, "experiment_id"] == "study-s1" and runs.loc[3, "experiment"] == "tune-a"
        assert runs.loc[1, "experiment_id"] == runs.loc[2, "experiment_id"] == "earlier"
        jobs = {j["id"]: j["experiment_id"] for j in store.jobs_records()}
        assert jobs == {"j1": "study-s1", "j2": "earlier", "j3": "earlier"}

        experiment = {"id": "x1", "name": "lora, ia3 · tiny / tweets", "kind": "grid", "owner": None}
        store.add_jobs([{**job("j4"), "experiment": experiment}, {**job("j5"), "experiment": experiment}])
        run_id = store.start_job("j4", dict(config={"method": "lora"}, config_hash="h", model="tiny", dataset="tweets",
                                            task="classification", method="lora", seed=0, versions={}))
        assert store.get_run(run_id)["experiment_id"] == "x1"
        store.rename_experiment("x1", "  my grid  ")
        assert store.runs_records(experiment_id="x1")[0]["experiment"] == "my grid"
        assert [r["id"] for r in store.runs_records(experiment_id=["x1"])] == [run_id]
        listed = {e["id"]: e for e in store.experiments_records()}
        assert listed["x1"]["name"] == "my grid" and listed["x1"]["n_runs"] == 1 and listed["x1"]["n_queued"] == 1
        assert listed["earlier"]["n_runs"] == 2 and listed["study-s1"]["n_runs"] == 1
        assert list(listed)[0] == "x1"  # newest first
        with pytest.raises(FtlabError, match="cannot be empty"):
            store.rename_experiment("x1", " ")
        with pytest.raises(FtlabError, match="does not exist"):
            store.rename_experiment("nope", "x")
