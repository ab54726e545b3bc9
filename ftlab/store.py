"""The run store: every run, its training curve, evaluations and results, in one DuckDB file.

This is the only module in ftlab that imports duckdb. DuckDB lets one process hold a database
file (a second process cannot open it even read-only), so the process that owns the `Store`
(the scheduler, or the CLI) writes everything; training workers only emit events, and that
process passes them to `Store.record_event`.

Schema (current version = SCHEMA_VERSION, built by MIGRATIONS in order):

- meta(key, value): key 'schema_version' holds the version the file is at.
- runs: one row per run; the whole config as JSON and its hash, status, timestamps, package
  versions JSON, device, dataset fingerprint/sizes/labels, parameter counts, the summary
  columns every task has (SUMMARY_COLUMNS), the full summary JSON, confusion matrix JSON, text report, error.
- steps(run_id, step): one row per logged training step (loss, lr, throughput).
- evals(run_id, step, split, metric): one row per metric value (long form, so any metric a
  task adds needs no new column); `evals_df` pivots it back to one row per evaluation.
- scores(run_id, split, metric): a run's final scores in long form (v5), one row per metric of its
  task (ftlab.tasks); run listings show the test scores as one column per registered metric.
- class_results(run_id, label): per-class precision/recall/F1/support of the final report.
- generations(run_id, idx) (v8): a generative run's test examples: prompt, reference, generation,
  the answers read from both, and whether they match (the first KEEP_GENERATIONS of the engine).
- logs(run_id, seq): the last LOG_LINES_KEPT log messages of each run.
- jobs: the queue (v3); a tuning trial's job carries its study, trial number and parameters (v4);
  a running job's evaluation pass in progress (phase, v6).
- experiments (v7): what one launch queued, the unit Compare shows (id, editable name, kind, owner);
  jobs and runs carry their experiment_id.
- studies: one Optuna study per tuned method (v4): its spec (base config, trials, seeds, search
  space) and status; the trials themselves are jobs and runs, so the study is rebuilt from them.

JSON lives in VARCHAR columns, and `json` does the parsing in Python, so no DuckDB extension
has to be loaded (these machines are offline).

A failure of the database itself (I/O, a lock, a full disk) raises `DatabaseError`, so callers
(the scheduler retries them) can tell it from a bad argument without importing duckdb.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pandas as pd

from ftlab.errors import FtlabError
from ftlab.provenance import real_db_path

DatabaseError = duckdb.Error  # every error DuckDB raises; a write that raised it left nothing behind
# The part of DatabaseError that is about the values written, not the database: a number out of
# its column's range, a duplicate key. Retrying the same write never helps.
BadValueError = (duckdb.DataError, duckdb.IntegrityError)

STATUSES = ("queued", "running", "succeeded", "failed", "canceled", "interrupted", "pruned")
# Statuses after which a run never changes again; reaching one stamps finished_at. "pruned": a
# tuning trial stopped early because its validation scores trailed the study's other trials.
TERMINAL_STATUSES = ("succeeded", "failed", "canceled", "pruned")
LOG_LINES_KEPT = 200
EXPERIMENT_NAME_MAX = 120

# Summary keys that get their own column in `runs` (so runs_df can sort and chart them), with
# their SQL types: what every run has, whatever its task. The whole summary dict is kept as JSON
# too, so keys not listed survive. A task's own scores (accuracy, entity F1, ...) are rows of
# `scores` (v5), so a task with new metrics needs no new column.
SUMMARY_COLUMNS = {
    "eval_loss": "DOUBLE",
    "trainable_params": "BIGINT",
    "total_params": "BIGINT",
    "head_params": "BIGINT",
    "train_samples_per_s": "DOUBLE",
    "train_tokens_per_s": "DOUBLE",
    "eval_samples_per_s": "DOUBLE",
    "peak_memory_mb": "DOUBLE",
    "memory_kind": "VARCHAR",
    "wall_s": "DOUBLE",
    "time_to_first_step_s": "DOUBLE",
    "steps": "BIGINT",
    "epochs": "DOUBLE",
    "stopped_reason": "VARCHAR",
    "artifact_dir": "VARCHAR",
}
# The v1 table's summary columns (memory_kind arrived in v2; the task scores moved to `scores` in v5).
_V1_SCORES = ("accuracy", "macro_f1", "entity_f1", "entity_precision", "entity_recall", "token_accuracy")
_V1_SUMMARY = {**{k: "DOUBLE" for k in _V1_SCORES}, **{k: t for k, t in SUMMARY_COLUMNS.items() if k != "memory_kind"}}

STEP_COLUMNS = ("epoch", "loss", "lr", "samples_per_s", "tokens_per_s", "elapsed_s")

# The experiment that holds the runs of a database from before experiments (schema v7).
EARLIER = "earlier"

# Ordered (version, statements). Each step runs in one transaction together with the bump of
# meta.schema_version, so a database is always exactly at some version. Never edit a released
# step: append a new one, so older files upgrade in place.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        # A sequence, not max(id)+1: ids of deleted runs are never reused, so an artifact
        # folder or a bookmark named after a run id can never point at a different run.
        "CREATE SEQUENCE run_ids START 1",
        """CREATE TABLE runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('run_ids'),
            status VARCHAR NOT NULL,
            model VARCHAR, dataset VARCHAR, task VARCHAR, method VARCHAR, seed BIGINT,
            config_hash VARCHAR, config VARCHAR, versions VARCHAR,
            created_at TIMESTAMP, started_at TIMESTAMP, finished_at TIMESTAMP,
            device VARCHAR, total_steps BIGINT,
            dataset_fingerprint VARCHAR, dataset_sizes VARCHAR, label_names VARCHAR,
            trainable_non_head_params BIGINT,
            """ + ", ".join(f"{k} {t}" for k, t in _V1_SUMMARY.items()) + """,
            summary VARCHAR, confusion VARCHAR, report VARCHAR, error VARCHAR)""",
        """CREATE TABLE steps (
            run_id BIGINT, step BIGINT, time DOUBLE,
            epoch DOUBLE, loss DOUBLE, lr DOUBLE, samples_per_s DOUBLE, tokens_per_s DOUBLE,
            elapsed_s DOUBLE,
            PRIMARY KEY (run_id, step))""",
        """CREATE TABLE evals (
            run_id BIGINT, step BIGINT, split VARCHAR, metric VARCHAR, value DOUBLE, time DOUBLE,
            PRIMARY KEY (run_id, step, split, metric))""",
        """CREATE TABLE class_results (
            run_id BIGINT, idx INTEGER, label VARCHAR,
            precision DOUBLE, recall DOUBLE, f1 DOUBLE, support BIGINT,
            PRIMARY KEY (run_id, idx))""",
    ]),
    (2, [
        # v2: run logs, and how peak memory was measured (CUDA allocator vs process RSS differ
        # by the CUDA context and the allocator cache, so the charts must not mix them blindly).
        """CREATE TABLE logs (
            run_id BIGINT, seq BIGINT, time DOUBLE, message VARCHAR,
            PRIMARY KEY (run_id, seq))""",
        "ALTER TABLE runs ADD COLUMN memory_kind VARCHAR",
    ]),
    (3, [
        # v3: the job queue. A job is a RunConfig waiting for, holding or done with a device
        # slot; its run (one row in runs, reset on each attempt) holds the metrics.
        "CREATE SEQUENCE job_seq START 1",
        """CREATE TABLE jobs (
            id VARCHAR PRIMARY KEY, seq BIGINT DEFAULT nextval('job_seq'),
            status VARCHAR NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0, oom_retries INTEGER NOT NULL DEFAULT 0,
            config VARCHAR NOT NULL, config_hash VARCHAR, owner VARCHAR,
            run_id BIGINT, device VARCHAR, pid BIGINT,
            created_at TIMESTAMP, started_at TIMESTAMP, finished_at TIMESTAMP,
            step BIGINT, total_steps BIGINT, samples_per_s DOUBLE, eta_s DOUBLE, last_loss DOUBLE,
            error VARCHAR, log_path VARCHAR, last_log VARCHAR)""",
    ]),
    (4, [
        # v4: tuning. A study searches one method's settings; each trial is an ordinary job.
        """CREATE TABLE studies (
            id VARCHAR PRIMARY KEY, name VARCHAR, method VARCHAR, status VARCHAR NOT NULL,
            spec VARCHAR NOT NULL, created_at TIMESTAMP, finished_at TIMESTAMP, best VARCHAR, error VARCHAR)""",
        "ALTER TABLE jobs ADD COLUMN study_id VARCHAR",
        "ALTER TABLE jobs ADD COLUMN trial INTEGER",  # trial number; NULL for the tuned re-runs
        "ALTER TABLE jobs ADD COLUMN trial_params VARCHAR",
    ]),
    (5, [
        # v5: a run's final scores in long form, one row per (split, metric): a task with new
        # metrics needs no migration. The v1 columns move here as test scores.
        """CREATE TABLE scores (
            run_id BIGINT, split VARCHAR, metric VARCHAR, value DOUBLE,
            PRIMARY KEY (run_id, split, metric))""",
        *[f"INSERT INTO scores SELECT id, 'test', '{m}', {m} FROM runs WHERE {m} IS NOT NULL" for m in _V1_SCORES],
        *[f"ALTER TABLE runs DROP COLUMN {m}" for m in _V1_SCORES],
    ]),
    (6, [
        # v6: what a running job does between its steps ({"split", "done", "total"} of an evaluation pass).
        "ALTER TABLE jobs ADD COLUMN phase VARCHAR",
    ]),
    (7, [
        # v7: experiments. What one launch queued (a grid with its baselines, a tuning study with its
        # re-runs, a learning curve, a continuation, an experiment file) is one experiment, the unit
        # Compare shows; its jobs and runs name it. Older runs: a study's jobs become that study's
        # experiment, everything else one experiment of earlier runs.
        """CREATE TABLE experiments (
            id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, kind VARCHAR, owner VARCHAR, created_at TIMESTAMP)""",
        "ALTER TABLE jobs ADD COLUMN experiment_id VARCHAR",
        "ALTER TABLE runs ADD COLUMN experiment_id VARCHAR",
        "INSERT INTO experiments SELECT 'study-' || id, coalesce(name, method || ' tuning'), 'tune', NULL, created_at "
        "FROM studies",
        "UPDATE jobs SET experiment_id = 'study-' || study_id WHERE study_id IS NOT NULL",
        "UPDATE runs SET experiment_id = (SELECT max(jobs.experiment_id) FROM jobs WHERE jobs.run_id = runs.id)",
        f"INSERT INTO experiments SELECT '{EARLIER}', 'Earlier runs', 'earlier', NULL, (SELECT min(created_at) FROM runs) "
        "WHERE EXISTS (SELECT 1 FROM runs WHERE experiment_id IS NULL) "
        "OR EXISTS (SELECT 1 FROM jobs WHERE experiment_id IS NULL)",
        f"UPDATE runs SET experiment_id = '{EARLIER}' WHERE experiment_id IS NULL",
        f"UPDATE jobs SET experiment_id = coalesce((SELECT runs.experiment_id FROM runs WHERE runs.id = jobs.run_id), "
        f"'{EARLIER}') WHERE experiment_id IS NULL",
    ]),
    (8, [
        # v8: what a generative run wrote for each test example (ftlab.tasks.sft): the prompt, the
        # reference, the generation, the answers read from both and whether they match.
        """CREATE TABLE generations (
            run_id BIGINT, idx BIGINT, prompt VARCHAR, reference VARCHAR, generation VARCHAR,
            extracted VARCHAR, expected VARCHAR, correct BOOLEAN,
            PRIMARY KEY (run_id, idx))""",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

_CHILD_TABLES = ("steps", "evals", "class_results", "logs", "scores", "generations")
_FILTERS = ("status", "dataset", "model", "method", "experiment_id")
# Heavy columns left out of runs_df/runs_records; get_run returns them.
_DETAIL_COLUMNS = ("confusion", "report")
# Continual runs (config init_from) as columns of every run listing: what they continue, what the
# old task lost and the new one gained (NULL for other runs).
_DERIVED_COLUMNS = (
    "TRY_CAST(json_extract_string(config, '$.init_from') AS BIGINT) AS init_from",
    "TRY_CAST(json_extract_string(summary, '$.forgetting') AS DOUBLE) AS forgetting",
    "TRY_CAST(json_extract_string(summary, '$.new_task_gain') AS DOUBLE) AS new_task_gain",
    # Generative runs: cross-entropy gained on general text (nats per token; 0 for prompting).
    "TRY_CAST(json_extract_string(summary, '$.forgetting_ce') AS DOUBLE) AS forgetting_ce",
    # The peak memory estimated before the run's first step (ftlab.models.memory), beside the measured one.
    "TRY_CAST(json_extract_string(summary, '$.estimated_peak_mb') AS DOUBLE) AS estimated_peak_mb",
    # The name of the run's experiment (v7), beside its id.
    "(SELECT name FROM experiments WHERE experiments.id = runs.experiment_id) AS experiment",
)
_JSON_COLUMNS = ("config", "versions", "summary", "dataset_sizes", "label_names", "confusion", "trial_params",
                 "spec", "best", "phase")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "canceled", "interrupted", "pruned")
JOB_FIELDS = ("status", "priority", "attempts", "oom_retries", "config", "config_hash", "run_id", "device", "pid",
              "started_at", "finished_at", "step", "total_steps", "samples_per_s", "eta_s", "last_loss", "error",
              "log_path", "last_log", "phase")
STUDY_FIELDS = ("status", "finished_at", "best", "error")


def _timestamp(unix: float | None) -> datetime:
    """Naive UTC datetime (the TIMESTAMP columns hold UTC) from a unix time, or now."""
    moment = datetime.now(timezone.utc) if unix is None else datetime.fromtimestamp(unix, timezone.utc)
    return moment.replace(tzinfo=None)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _jsonable(column: str, value: Any) -> Any:
    """One value of a runs row as a JSON-ready Python value."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc).isoformat()
    if column in _JSON_COLUMNS:
        return json.loads(value)
    return value


def score_metrics() -> tuple[str, ...]:
    """Every task's scores (ftlab.tasks), the columns a run listing shows them in: a run of one
    task has NULL in the others'."""
    from ftlab.tasks import list_tasks

    return tuple(dict.fromkeys(m for task in list_tasks() for m in task.metrics))


def _scores_join() -> str:
    """The test scores of `scores` (long form) as one column per metric, joined to `runs`."""
    columns = ", ".join(f"max(value) FILTER (WHERE split = 'test' AND metric = '{m}') AS {m}" for m in score_metrics())
    return f"LEFT JOIN (SELECT run_id AS scored_run, {columns} FROM scores GROUP BY run_id) ON scored_run = runs.id"


def _id_list(run_ids: list[int] | int | None) -> list[int] | None:
    if run_ids is None:
        return None
    return [int(run_ids)] if isinstance(run_ids, numbers.Integral) else [int(r) for r in run_ids]


class Store:
    """All reads and writes of ftlab's DuckDB database. Not for worker processes (see module doc)."""

    def __init__(self, path: str | os.PathLike = ":memory:"):
        self.path = real_db_path(path)  # through a symlink: the same file, lock and write-ahead log
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = self._connect(self.path)
        # One DuckDB connection is not safe to use from two threads at once, and the owning
        # process may have several (UI callbacks, the scheduler loop).
        self._lock = threading.RLock()
        try:
            self._migrate()
        except BaseException:
            self._con.close()
            raise

    @staticmethod
    def _connect(path: str) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(path)
        except duckdb.IOException as e:
            text = str(e)
            if "Could not set lock" in text:
                pid = re.search(r"PID (\d+)", text)
                who = f" (pid {pid.group(1)})" if pid else ""
                raise FtlabError(
                    f"database {path} is in use by another ftlab process{who}; "
                    "stop it or use another --db") from None
            if "not a valid DuckDB database" in text:
                raise FtlabError(
                    f"{path} is not a DuckDB database file; point --db at an ftlab database "
                    "or at a new path") from None
            raise FtlabError(f"cannot open database {path}: {text.splitlines()[0]}") from None

    # -- schema -------------------------------------------------------------------------------

    def _schema_version(self) -> int:
        tables = {r[0] for r in self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        if "meta" not in tables:
            if tables:
                raise FtlabError(
                    f"{self.path} is a DuckDB file but not an ftlab database (no meta table); "
                    "use another --db")
            return 0
        row = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self._schema_version()
        if current > SCHEMA_VERSION:
            raise FtlabError(
                f"database {self.path} has schema v{current} from a newer ftlab, this ftlab "
                f"knows up to v{SCHEMA_VERSION}; upgrade ftlab (pip install -U ftlab)")
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            with self._tx():
                for sql in statements:
                    self._con.execute(sql)
                self._con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])

    @contextmanager
    def _tx(self):
        """One transaction under the lock: either all of a write lands, or none of it."""
        with self._lock:
            self._con.begin()
            try:
                yield
            except BaseException:
                self._con.rollback()
                raise
            self._con.commit()

    # -- lifecycle ----------------------------------------------------------------------------

    def answers(self) -> bool:
        """Whether the database answers a trivial query now: tells a failure of one write (its values,
        its command) from a failure of the database itself (I/O, a lock, a full disk)."""
        try:
            with self._lock:
                self._con.execute("SELECT 1").fetchone()
            return True
        except duckdb.Error:
            return False

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writes -------------------------------------------------------------------------------

    def create_run(self, config: dict, config_hash: str, *, model: str, dataset: str, task: str,
                   method: str, seed: int, versions: dict[str, str], device: str | None = None,
                   status: str = "running", experiment: dict | None = None) -> int:
        """A new run; `experiment` ({"id", "name", "kind", "owner"}, added if new) is what launched it."""
        self._check_status(status)
        with self._tx():
            if experiment:
                self._add_experiment(experiment)
            return self._insert_run(config, config_hash, model=model, dataset=dataset, task=task, method=method,
                                    seed=seed, versions=versions, device=device, status=status,
                                    experiment_id=experiment["id"] if experiment else None)

    def _insert_run(self, config: dict, config_hash: str, *, model: str, dataset: str, task: str, method: str,
                    seed: int, versions: dict[str, str], device: str | None = None, status: str = "queued",
                    experiment_id: str | None = None) -> int:
        row = self._con.execute(
            """INSERT INTO runs (status, model, dataset, task, method, seed, config_hash,
                                 config, versions, device, created_at, experiment_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [status, model, dataset, task, method, int(seed), config_hash,
             _dumps(config), _dumps(versions), device, _timestamp(None), experiment_id]).fetchone()
        return int(row[0])

    # -- experiments ----------------------------------------------------------------------------

    def _add_experiment(self, experiment: dict) -> None:
        name = str(experiment.get("name") or "").strip()
        if not experiment.get("id") or not name:
            raise FtlabError("an experiment needs an id and a name")
        self._con.execute("INSERT OR IGNORE INTO experiments (id, name, kind, owner, created_at) VALUES (?, ?, ?, ?, ?)",
                          [str(experiment["id"]), name[:EXPERIMENT_NAME_MAX], experiment.get("kind"),
                           experiment.get("owner"), _timestamp(experiment.get("time"))])

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        """Give an experiment a new name (trimmed, at most EXPERIMENT_NAME_MAX characters)."""
        name = str(name or "").strip()
        if not name:
            raise FtlabError("an experiment's name cannot be empty")
        with self._tx():
            if self._con.execute("SELECT 1 FROM experiments WHERE id = ?", [experiment_id]).fetchone() is None:
                raise FtlabError(f"experiment {experiment_id!r} does not exist")
            self._con.execute("UPDATE experiments SET name = ? WHERE id = ?", [name[:EXPERIMENT_NAME_MAX], experiment_id])

    def experiments_records(self) -> list[dict]:
        """Every experiment, newest first, with its run count by status ("runs": {status: n}) and its
        jobs still to run ("queued")."""
        names, rows = self._query(
            """SELECT e.*, coalesce(r.n, 0) AS n_runs, coalesce(r.ok, 0) AS n_succeeded, coalesce(j.n, 0) AS n_queued
               FROM experiments e
               LEFT JOIN (SELECT experiment_id, count(*) AS n, count(*) FILTER (WHERE status = 'succeeded') AS ok
                          FROM runs GROUP BY experiment_id) r ON r.experiment_id = e.id
               LEFT JOIN (SELECT experiment_id, count(*) AS n FROM jobs WHERE status = 'queued'
                          GROUP BY experiment_id) j ON j.experiment_id = e.id
               ORDER BY e.created_at DESC, e.id DESC""", [])
        return [{n: _jsonable(n, v) for n, v in zip(names, row)} for row in rows]

    def record_event(self, run_id: int, event: dict) -> None:
        kind = event.get("event")
        if kind == "progress":  # an evaluation pass under way: the job shows it (Scheduler), the run keeps nothing
            return
        handler = {
            "started": self._on_started, "step": self._on_step, "eval": self._on_eval,
            "finished": self._on_finished, "failed": self._on_failed, "log": self._on_log,
        }.get(kind)
        if handler is None:
            raise ValueError(f"unknown event kind {kind!r} for run {run_id}")
        with self._tx():
            self._require_run(run_id)
            handler(int(run_id), event)

    def _on_started(self, run_id: int, e: dict) -> None:
        # An attempt that resumed from a checkpoint keeps the curve up to it; the rest is redone.
        self._trim_series(run_id, int(e.get("resumed_from_step") or 0))
        params = e.get("params") or {}
        data = e.get("dataset") or {}
        self._con.execute(
            """UPDATE runs SET status = 'running', started_at = ?, device = coalesce(?, device),
                   total_steps = ?, total_params = ?, trainable_params = ?, head_params = ?,
                   trainable_non_head_params = ?, dataset_fingerprint = ?, dataset_sizes = ?,
                   label_names = ?
               WHERE id = ?""",
            [_timestamp(e.get("time")), e.get("device"), _int(e.get("total_steps")),
             _int(params.get("total_params")), _int(params.get("trainable_params")),
             _int(params.get("head_params")), _int(params.get("trainable_non_head_params")),
             data.get("fingerprint"), _dumps(data.get("sizes")), _dumps(data.get("label_names")),
             run_id])

    def _on_step(self, run_id: int, e: dict) -> None:
        # INSERT OR REPLACE on the (run_id, step) key: a resumed worker resends steps.
        self._con.execute(
            "INSERT OR REPLACE INTO steps (run_id, step, time, " + ", ".join(STEP_COLUMNS) + ") "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, int(e["step"]), _float(e.get("time"))] + [_float(e.get(c)) for c in STEP_COLUMNS])

    def _on_eval(self, run_id: int, e: dict) -> None:
        step, split = int(e["step"]), str(e["split"])
        # Replace the whole evaluation, not metric by metric: a resent eval with fewer metrics
        # must not leave stale ones behind.
        self._con.execute("DELETE FROM evals WHERE run_id = ? AND step = ? AND split = ?",
                          [run_id, step, split])
        values = dict(e.get("metrics") or {})
        values["eval_samples_per_s"] = e.get("eval_samples_per_s")
        rows = [[run_id, step, split, name, float(v), _float(e.get("time"))]
                for name, v in values.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if rows:
            self._con.executemany("INSERT INTO evals VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _write_summary(self, run_id: int, summary: dict) -> None:
        # coalesce: a key missing from the summary keeps what `started` recorded (param counts).
        cols = list(SUMMARY_COLUMNS)
        sets = ", ".join(f"{c} = coalesce(?, {c})" for c in cols)
        casts = {"DOUBLE": _float, "BIGINT": _int, "VARCHAR": lambda v: None if v is None else str(v)}
        values = [casts[SUMMARY_COLUMNS[c]](summary.get(c)) for c in cols]
        self._con.execute(f"UPDATE runs SET {sets}, summary = ? WHERE id = ?",
                          values + [_dumps(summary), run_id])
        scores = [[run_id, "test", m, _float(summary[m])] for m in score_metrics() if _float(summary.get(m)) is not None]
        if scores:
            self._con.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", scores)

    def _on_finished(self, run_id: int, e: dict) -> None:
        summary = e.get("summary") or {}
        self._write_summary(run_id, summary)
        # A cancel stops the engine at a step and it evaluates what it has: the run was canceled.
        status = "canceled" if summary.get("stopped_reason") == "canceled" else "succeeded"
        self._con.execute(
            """UPDATE runs SET status = ?, error = NULL, confusion = ?, report = ?,
                   finished_at = ? WHERE id = ?""",
            [status, _dumps(e.get("confusion")), e.get("report"), _timestamp(e.get("time")), run_id])
        self._con.execute("DELETE FROM class_results WHERE run_id = ?", [run_id])
        rows = [[run_id, i, str(c["label"]), _float(c.get("precision")), _float(c.get("recall")),
                 _float(c.get("f1")), _int(c.get("support"))]
                for i, c in enumerate(e.get("per_class") or [])]
        if rows:
            self._con.executemany("INSERT INTO class_results VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self._con.execute("DELETE FROM generations WHERE run_id = ?", [run_id])
        rows = [[run_id, int(g["index"]), str(g["prompt"]), str(g["reference"]), str(g["generation"]),
                 str(g["extracted"]), str(g["expected"]), bool(g["correct"])] for g in e.get("generations") or []]
        if rows:
            self._con.executemany("INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _on_failed(self, run_id: int, e: dict) -> None:
        self._write_summary(run_id, e.get("summary") or {})
        self._con.execute(
            "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
            [e.get("error"), _timestamp(e.get("time")), run_id])

    def _on_log(self, run_id: int, e: dict) -> None:
        seq = self._con.execute("SELECT coalesce(max(seq), 0) + 1 FROM logs WHERE run_id = ?",
                                [run_id]).fetchone()[0]
        self._con.execute("INSERT INTO logs VALUES (?, ?, ?, ?)",
                          [run_id, seq, _float(e.get("time")), str(e.get("message", ""))])
        self._con.execute("DELETE FROM logs WHERE run_id = ? AND seq <= ?",
                          [run_id, seq - LOG_LINES_KEPT])

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        self._check_status(status)
        finished = _timestamp(None) if status in TERMINAL_STATUSES else None
        with self._tx():
            self._require_run(run_id)
            self._con.execute(
                """UPDATE runs SET status = ?, error = coalesce(?, error),
                       finished_at = coalesce(finished_at, ?) WHERE id = ?""",
                [status, error, finished, int(run_id)])

    def copy_run(self, source: "Store", run_id: int, *, artifact_dir: str | None = None,
                 experiment: dict | None = None) -> int:
        """Copy one run of another database (its row, steps, evals, per-class scores and logs)
        under a new id here, in `experiment` (create_run's); returns the id. `artifact_dir` replaces
        the stored weights path."""
        source._require_run(run_id)
        with source._lock:
            row = source._con.execute("SELECT * EXCLUDE (id) FROM runs WHERE id = ?", [int(run_id)]).df()
            children = {t: source._con.execute(f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ?",
                                               [int(run_id)]).df() for t in _CHILD_TABLES}
        row["artifact_dir"] = artifact_dir
        row["experiment_id"] = experiment["id"] if experiment else None
        with self._tx():
            if experiment:
                self._add_experiment(experiment)
            cols = ", ".join(row.columns)
            new_id = int(self._con.execute(f"INSERT INTO runs ({cols}) SELECT {cols} FROM row RETURNING id").fetchone()[0])
            for table, df in children.items():
                if len(df):
                    cols = ", ".join(df.columns)
                    self._con.execute(f"INSERT INTO {table} (run_id, {cols}) SELECT ?, {cols} FROM df", [new_id])
        return new_id

    def set_artifact_dir(self, run_id: int, artifact_dir: str | None) -> None:
        with self._tx():
            self._require_run(run_id)
            self._con.execute("UPDATE runs SET artifact_dir = ? WHERE id = ?", [artifact_dir, int(run_id)])

    def delete_run(self, run_id: int) -> None:
        with self._tx():
            self._require_run(run_id)
            for table in _CHILD_TABLES:
                self._con.execute(f"DELETE FROM {table} WHERE run_id = ?", [int(run_id)])
            self._con.execute("DELETE FROM runs WHERE id = ?", [int(run_id)])

    @staticmethod
    def _check_status(status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")

    def _require_run(self, run_id: int) -> None:
        if self._con.execute("SELECT 1 FROM runs WHERE id = ?", [int(run_id)]).fetchone() is None:
            raise FtlabError(f"run {run_id} does not exist in {self.path}; `ftlab runs` lists them")

    # -- reads --------------------------------------------------------------------------------

    def _query(self, sql: str, params: list) -> tuple[list[str], list[tuple]]:
        with self._lock:
            cur = self._con.execute(sql, params)
            return [d[0] for d in cur.description], cur.fetchall()

    def _df(self, sql: str, params: list) -> pd.DataFrame:
        with self._lock:
            return self._con.execute(sql, params).df()

    def get_run(self, run_id: int) -> dict:
        """Every column of the run (JSON parsed, times as ISO strings) plus its recent logs."""
        with self._lock:
            self._require_run(run_id)
            names, rows = self._query(f"SELECT runs.*, {', '.join(score_metrics())} FROM runs {_scores_join()} "
                                      "WHERE id = ?", [int(run_id)])
            _, logs = self._query("SELECT message FROM logs WHERE run_id = ? ORDER BY seq", [int(run_id)])
        run = {n: _jsonable(n, v) for n, v in zip(names, rows[0])}
        run["summary"] = run["summary"] or {}
        run["logs"] = [m for (m,) in logs]
        return run

    def _runs_select(self, filters: dict) -> tuple[str, list]:
        unknown = set(filters) - set(_FILTERS)
        if unknown:
            raise TypeError(f"unknown run filter(s) {sorted(unknown)}; use {', '.join(_FILTERS)}")
        where, params = [], []
        for column in _FILTERS:
            wanted = filters.get(column)
            if wanted is None:
                continue
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            where.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "FALSE")
            params += values
        columns = self._runs_columns() + list(_DERIVED_COLUMNS) + list(score_metrics())
        sql = f"SELECT {', '.join(columns)} FROM runs {_scores_join()}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql + " ORDER BY id", params

    def _runs_columns(self) -> list[str]:
        names, _ = self._query("SELECT * FROM runs LIMIT 0", [])
        return [n for n in names if n not in _DETAIL_COLUMNS]

    def runs_df(self, *, status: str | Iterable[str] | None = None, dataset=None, model=None,
                method=None, experiment_id=None) -> pd.DataFrame:
        """One row per run, oldest first. Each filter takes one value or a list of values."""
        sql, params = self._runs_select(
            {"status": status, "dataset": dataset, "model": model, "method": method, "experiment_id": experiment_id})
        return self._df(sql, params)

    def runs_records(self, **filters) -> list[dict]:
        """Runs as JSON-ready dicts (NaN -> None, times ISO, config/versions parsed)."""
        sql, params = self._runs_select(filters)
        names, rows = self._query(sql, params)
        return [{n: _jsonable(n, v) for n, v in zip(names, row)} for row in rows]

    @staticmethod
    def _for_runs(run_ids, column: str = "run_id") -> tuple[str, list]:
        ids = _id_list(run_ids)
        if ids is None:
            return "", []
        if not ids:
            return " WHERE FALSE", []
        return f" WHERE {column} IN ({', '.join('?' * len(ids))})", ids

    def steps_df(self, run_ids: list[int] | int | None = None, max_points: int | None = None) -> pd.DataFrame:
        """One row per logged step of these runs (all runs for None), by run and step. With
        `max_points` (2 or more), each run's steps are read with a stride, every k-th from its first
        (k = ceil(steps / (max_points - 1))) and its last: at most max_points a run, what a chart
        of the run can show, read without the rest."""
        where, params = self._for_runs(run_ids)
        columns = f"run_id, step, time, {', '.join(STEP_COLUMNS)}"
        if max_points is None:
            return self._df(f"SELECT {columns} FROM steps{where} ORDER BY run_id, step", params)
        if int(max_points) < 2:
            raise ValueError(f"max_points must be 2 or more, got {max_points}")
        return self._df(
            f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY run_id ORDER BY step) AS _i, "
            f"count(*) OVER (PARTITION BY run_id) AS _n FROM steps{where}) "
            "WHERE (_i - 1) % CAST(ceil(_n / ?) AS BIGINT) = 0 OR _i = _n ORDER BY run_id, step",
            params + [int(max_points) - 1])

    def evals_df(self, run_ids: list[int] | int | None = None) -> pd.DataFrame:
        """One row per (run_id, step, split): eval_samples_per_s and one column per metric."""
        where, params = self._for_runs(run_ids)
        long = self._df(f"SELECT run_id, step, split, metric, value FROM evals{where}", params)
        keys = ["run_id", "step", "split"]
        if long.empty:
            return pd.DataFrame(columns=keys + ["eval_samples_per_s"])
        # pivot, not pivot_table: the primary key makes (run, step, split, metric) unique, and
        # pivot_table would drop a metric whose value is NaN.
        wide = long.pivot(index=keys, columns="metric", values="value")
        wide = wide.reset_index().rename_axis(columns=None)
        if "eval_samples_per_s" not in wide:
            wide["eval_samples_per_s"] = float("nan")
        metrics = sorted(c for c in wide.columns if c not in keys and c != "eval_samples_per_s")
        wide = wide[keys + ["eval_samples_per_s"] + metrics]
        return wide.sort_values(keys).reset_index(drop=True)

    def class_results_df(self, run_ids: list[int] | int | None = None) -> pd.DataFrame:
        where, params = self._for_runs(run_ids)
        return self._df("SELECT run_id, label, precision, recall, f1, support FROM class_results"
                        f"{where} ORDER BY run_id, idx", params)

    def generations_df(self, run_id: int, *, wrong_only: bool = False, limit: int | None = None) -> pd.DataFrame:
        """A generative run's stored test examples in test order (the wrong ones only, if asked)."""
        wrong = " AND NOT correct" if wrong_only else ""
        cap = "" if limit is None else f" LIMIT {int(limit)}"
        return self._df("SELECT idx, prompt, reference, generation, extracted, expected, correct FROM generations "
                        f"WHERE run_id = ?{wrong} ORDER BY idx{cap}", [int(run_id)])

    # -- jobs (the queue) -----------------------------------------------------------------------

    def add_jobs(self, jobs: list[dict]) -> None:
        """Queue jobs, all or none: [{"id", "config" (dict), "config_hash", "priority", "owner", "experiment"}]
        (the experiment, a dict as create_run takes, is added with its first job).
        A job whose id is already there is left as it is: a command applied twice queues once."""
        with self._tx():
            for j in jobs:
                if j.get("experiment"):
                    self._add_experiment(j["experiment"])
                self._con.execute(
                    """INSERT OR IGNORE INTO jobs (id, status, priority, config, config_hash, owner, created_at,
                                                   study_id, trial, trial_params, experiment_id)
                       VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [j["id"], int(j.get("priority", 0)), _dumps(j["config"]), j.get("config_hash"),
                     j.get("owner"), _timestamp(j.get("time")), j.get("study_id"), j.get("trial"),
                     _dumps(j.get("trial_params")), (j.get("experiment") or {}).get("id")])

    def update_job(self, job_id: str, **fields) -> None:
        with self._tx():
            self._update_job(job_id, fields)

    def _update_job(self, job_id: str, fields: dict) -> None:
        unknown = set(fields) - set(JOB_FIELDS)
        if unknown:
            raise ValueError(f"unknown job field(s) {sorted(unknown)}")
        if "status" in fields and fields["status"] not in JOB_STATUSES:
            raise ValueError(f"job status {fields['status']!r} is not one of {', '.join(JOB_STATUSES)}")
        for key in ("started_at", "finished_at"):
            if key in fields and isinstance(fields[key], (int, float)):
                fields[key] = _timestamp(fields[key])
        for key in ("config", "phase"):  # JSON columns
            if fields.get(key) is not None and not isinstance(fields[key], str):
                fields[key] = _dumps(fields[key])
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._require_job(job_id)
        self._con.execute(f"UPDATE jobs SET {sets} WHERE id = ?", list(fields.values()) + [job_id])

    def start_job(self, job_id: str, run: dict, keep_through_step: int = 0, **fields) -> int:
        """A queued job takes a device slot, in one transaction: its run is created on the first
        attempt (`run`: create_run's keyword arguments, config and config_hash included) or reset for
        a new one (_reset_run, with run's config, keeping the curve through `keep_through_step`, where
        a checkpoint lets it resume), and the job is marked running with its run and
        `fields` (update_job's). Returns the run id. Raises FtlabError, changing nothing, for a job
        that is not queued; a failure leaves neither a half-started job nor a run without its job."""
        with self._tx():
            job = self.get_job(job_id)
            if job["status"] != "queued":
                raise FtlabError(f"job {job_id} is {job['status']}; only a queued job can start")
            run_id = job["run_id"]
            if run_id is None:
                run_id = self._insert_run(**run, experiment_id=job.get("experiment_id"))
            else:
                self._reset_run(run_id, run["config"], run["config_hash"], keep_through_step)
            self._update_job(job_id, {**fields, "status": "running", "run_id": run_id})
        return run_id

    def run_owner(self, run_id: int) -> str | None:
        """The owner of the job that made run `run_id`; None if no job did or it has no owner."""
        row = self._query("SELECT owner FROM jobs WHERE run_id = ? AND owner IS NOT NULL LIMIT 1", [int(run_id)])[1]
        return row[0][0] if row else None

    def cancel_queued(self, job_ids: list[str], reason: str) -> list[str]:
        """Cancel, in one transaction, those of `job_ids` that are queued (and the runs of their
        earlier attempts); returns the ids canceled. A scheduler's next tick starts none of them."""
        now, done = _timestamp(None), []
        with self._tx():
            for job_id in job_ids:
                row = self._con.execute("SELECT status, run_id FROM jobs WHERE id = ?", [job_id]).fetchone()
                if row is None or row[0] != "queued":
                    continue
                if row[1] is not None:
                    self._con.execute("UPDATE runs SET status = 'canceled', error = ?, "
                                      "finished_at = coalesce(finished_at, ?) WHERE id = ?", [reason, now, row[1]])
                self._con.execute("UPDATE jobs SET status = 'canceled', finished_at = ?, error = ? WHERE id = ?",
                                  [now, reason, job_id])
                done.append(job_id)
        return done

    def _require_job(self, job_id: str) -> None:
        if self._con.execute("SELECT 1 FROM jobs WHERE id = ?", [job_id]).fetchone() is None:
            raise FtlabError(f"job {job_id} does not exist; `python -m ftlab jobs` lists them")

    def get_job(self, job_id: str) -> dict:
        with self._lock:
            self._require_job(job_id)
            names, rows = self._query("SELECT * FROM jobs WHERE id = ?", [job_id])
        return {n: _jsonable(n, v) for n, v in zip(names, rows[0])}

    def jobs_records(self, *, status=None, queued_limit: int | None = None) -> list[dict]:
        """Jobs in queue order: running first, then queued by priority (high first) then age, each with
        its experiment's name ("experiment"). With
        `queued_limit`, only the first that many of the queued jobs (a page of the queue, read at
        the same cost however long the queue); the jobs of other statuses all."""
        where, params = [], []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            params += wanted
        if queued_limit is not None:
            where.append("(status <> 'queued' OR id IN (SELECT id FROM jobs WHERE status = 'queued' "
                         "ORDER BY priority DESC, seq LIMIT ?))")
            params.append(max(0, int(queued_limit)))
        names, rows = self._query(
            f"""SELECT *, (SELECT name FROM experiments WHERE experiments.id = jobs.experiment_id) AS experiment
                FROM jobs {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY
                  CASE status WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END,
                  CASE WHEN status = 'queued' THEN -priority ELSE 0 END, seq""", params)
        return [{n: _jsonable(n, v) for n, v in zip(names, row)} for row in rows]

    def job_counts(self) -> dict[str, int]:
        """How many jobs have each status, {status: n} (statuses no job has are left out): one
        COUNT query, however long the queue."""
        _, rows = self._query("SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status", [])
        return {status: int(n) for status, n in rows}

    def experiments_fingerprint(self) -> tuple[int, int]:
        """(how many, a hash of every row) of the experiments: changes when one is added or renamed,
        so a snapshot of job and run records (which carry experiment names) knows to refresh."""
        _, rows = self._query("SELECT count(*), coalesce(sum(hash(experiments)::HUGEINT), 0) FROM experiments", [])
        return int(rows[0][0]), int(rows[0][1])

    def jobs_fingerprint(self, status=None) -> tuple[int, int]:
        """(how many, a hash of every column of every row) of the jobs with `status` (one or a
        list; None: all): equal between two calls unless one of those jobs changed, came or went
        (or, once in 2**64, two different sets hash alike). Lets a reader skip re-reading a long
        queue that did not change."""
        where, params = "", []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            where, params = f"WHERE status IN ({', '.join('?' for _ in wanted)})", wanted
        _, rows = self._query(f"SELECT count(*), coalesce(sum(hash(jobs)::HUGEINT), 0) FROM jobs {where}", params)
        return int(rows[0][0]), int(rows[0][1])

    def study_jobs(self, study_id: str) -> list[dict]:
        """A study's jobs (trials and tuned re-runs) in the order they were queued."""
        names, rows = self._query("SELECT * FROM jobs WHERE study_id = ? ORDER BY seq", [study_id])
        return [{n: _jsonable(n, v) for n, v in zip(names, row)} for row in rows]

    # ---- studies ---------------------------------------------------------------------------

    def add_studies(self, studies: list[dict]) -> None:
        """[{"id", "name", "method", "spec" (dict), "time"}], all or none; an id already there is kept.
        A spec's "experiment" (the launch the study belongs to) is added with it."""
        with self._tx():
            for st in studies:
                if st["spec"].get("experiment"):
                    self._add_experiment(st["spec"]["experiment"])
                self._con.execute(
                    """INSERT OR IGNORE INTO studies (id, name, method, status, spec, created_at)
                       VALUES (?, ?, ?, 'running', ?, ?)""",
                    [st["id"], st.get("name"), st.get("method"), _dumps(st["spec"]), _timestamp(st.get("time"))])

    def studies_records(self, *, status=None) -> list[dict]:
        where, params = "", []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            where, params = f"WHERE status IN ({', '.join('?' for _ in wanted)})", wanted
        names, rows = self._query(f"SELECT * FROM studies {where} ORDER BY created_at, id", params)
        return [{n: _jsonable(n, v) for n, v in zip(names, row)} for row in rows]

    def update_study(self, study_id: str, **fields) -> None:
        unknown = set(fields) - set(STUDY_FIELDS)
        if unknown:
            raise ValueError(f"unknown study field(s) {sorted(unknown)}")
        if isinstance(fields.get("finished_at"), (int, float)):
            fields["finished_at"] = _timestamp(fields["finished_at"])
        if "best" in fields and not isinstance(fields["best"], str):
            fields["best"] = _dumps(fields["best"])
        with self._tx():
            self._con.execute(f"UPDATE studies SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                              list(fields.values()) + [study_id])

    def next_jobs(self, limit: int) -> list[dict]:
        """The queued jobs to start next: highest priority first, then oldest."""
        names, rows = self._query(
            "SELECT * FROM jobs WHERE status = 'queued' ORDER BY priority DESC, seq LIMIT ?", [int(limit)])
        return [{n: _jsonable(n, v) for n, v in zip(names, row)} for row in rows]

    def _trim_series(self, run_id: int, keep_through_step: int) -> None:
        for table in ("steps", "evals"):
            self._con.execute(f"DELETE FROM {table} WHERE run_id = ? AND step > ?", [int(run_id), int(keep_through_step)])
        self._con.execute("DELETE FROM class_results WHERE run_id = ?", [int(run_id)])
        self._con.execute("DELETE FROM generations WHERE run_id = ?", [int(run_id)])

    def _reset_run(self, run_id: int, config: dict | None, config_hash: str | None,
                   keep_through_step: int = 0) -> None:
        """A new attempt of a job's run (inside start_job's transaction): drop the series of the
        attempt before past `keep_through_step` (its logs stay, they tell why there was a new
        attempt), keep the row and id; optionally a changed config."""
        self._require_run(run_id)
        self._trim_series(run_id, keep_through_step)
        if config is not None:
            self._con.execute("UPDATE runs SET config = ?, config_hash = ? WHERE id = ?",
                              [_dumps(config), config_hash, int(run_id)])
        self._con.execute("DELETE FROM scores WHERE run_id = ?", [int(run_id)])
        cleared = ", ".join(f"{c} = NULL" for c in SUMMARY_COLUMNS)
        self._con.execute(f"UPDATE runs SET status = 'queued', error = NULL, finished_at = NULL, summary = NULL, "
                          f"confusion = NULL, report = NULL, {cleared} WHERE id = ?", [int(run_id)])
