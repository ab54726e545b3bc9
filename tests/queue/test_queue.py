"""The job queue with real worker subprocesses on the tiny model (and a fake backend for load)."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.queue.scheduler import Scheduler
from ftlab.service import Lab
from ftlab.store import Store

TERMINAL = {"succeeded", "failed", "canceled"}


def tiny(**kw):
    base = dict(model="tiny", dataset="tweets-sentiment", method="lora", max_train=64, max_eval=32, batch_size=16,
                max_steps=4, seed=0)
    return RunConfig(**{**base, **kw})


def drive(sched, until, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sched.tick()
        if until():
            return
        time.sleep(0.1)
    raise AssertionError("timed out; jobs: " + str([(j["id"], j["status"], j["error"]) for j in sched.store.jobs_records()]))


def statuses(store):
    return {j["id"]: j["status"] for j in store.jobs_records()}


def all_done(store):
    return lambda: all(s in TERMINAL for s in statuses(store).values())


@pytest.fixture
def sched(tmp_path):
    db = str(tmp_path / "q.duckdb")
    store = Store(db)
    s = Scheduler(store, db, slots=["cpu"])
    yield s
    s.shutdown()
    store.close()


def worker_pids():
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ftlab.queue.worker" in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def test_submit_run_finish_priority_and_cancel_queued(sched):
    store = sched.store
    a, = sched.submit([tiny(seed=0)])
    b, = sched.submit([tiny(seed=1)], priority=5)
    c, = sched.submit([tiny(seed=2)])
    sched.set_priority(c, 9)
    d, = sched.submit([tiny(seed=3)])
    assert sched.cancel(d) == "canceled"
    drive(sched, all_done(store))
    jobs = {j["id"]: j for j in store.jobs_records()}
    assert [jobs[x]["status"] for x in (a, b, c, d)] == ["succeeded"] * 3 + ["canceled"]
    order = sorted((a, b, c), key=lambda x: jobs[x]["started_at"])
    assert order == [c, b, a]  # priority 9, then 5, then 0
    for x in (a, b, c):
        run = store.get_run(jobs[x]["run_id"])
        assert run["status"] == "succeeded" and jobs[x]["step"] == jobs[x]["total_steps"] == 4
        assert list(store.steps_df(run["id"])["step"]) == [1, 2, 3, 4]
    assert jobs[d]["run_id"] is None
    with pytest.raises(FtlabError):
        sched.set_priority(a, 1)  # only while queued


def test_cancel_running_frees_slot_and_keeps_metrics(sched):
    store = sched.store
    long, = sched.submit([tiny(epochs=1000, max_steps=None, max_train=64, batch_size=8)])
    nxt, = sched.submit([tiny(seed=7)])
    drive(sched, lambda: (store.get_job(long)["step"] or 0) >= 1)
    t0 = time.monotonic()
    assert sched.cancel(long) == "canceling"
    drive(sched, lambda: store.get_job(long)["status"] == "canceled", timeout=30)
    assert time.monotonic() - t0 < 5
    job = store.get_job(long)
    assert store.get_run(job["run_id"])["status"] == "canceled"
    assert len(store.steps_df(job["run_id"])) >= 1  # the metrics reached so far stay
    drive(sched, lambda: store.get_job(nxt)["status"] in TERMINAL)  # the slot went to the next job
    assert store.get_job(nxt)["status"] == "succeeded"
    assert not [p for p in worker_pids() if p == job["pid"]]


def test_spare_worker_takes_the_next_job_and_a_dead_spare_is_replaced(tmp_path):
    db = str(tmp_path / "q.duckdb")
    store = Store(db)
    sched = Scheduler(store, db, slots=["cpu"], spare_workers=True)
    try:
        first = sched.backend.spares["cpu"]
        warm, = sched.submit([tiny(epochs=1000, max_steps=None, batch_size=8)])
        drive(sched, lambda: (store.get_job(warm)["step"] or 0) >= 1)
        assert store.get_job(warm)["pid"] == first.pid  # the spare runs it
        assert sched.backend.spares == {}  # no new spare while a job has the CPU
        sched.cancel(warm)
        drive(sched, all_done(store))
        log = Path(store.get_job(warm)["log_path"]).read_text()
        assert f"ftlab worker {first.pid}: imports done" in log and "a spare started ahead" in log
        second = sched.backend.spares["cpu"]  # started once the CPU was free again
        assert second.pid != first.pid and second.poll() is None

        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
        cold, = sched.submit([tiny(seed=1)])
        drive(sched, all_done(store))
        job = store.get_job(cold)
        log = Path(job["log_path"]).read_text()
        ran_it = int(re.search(r"ftlab worker (\d+): imports done", log).group(1))
        assert job["status"] == "succeeded" and ran_it not in (first.pid, second.pid) and "spare" not in log
        third = sched.backend.spares["cpu"]
    finally:
        sched.shutdown()
        store.close()
    assert sched.backend.spares == {} and third.poll() is not None
    assert third.pid not in worker_pids()


def test_failures_retry_vanishing_file_and_killed_worker(sched, tmp_path, keyword_csv):
    store = sched.store
    data = tmp_path / "vanish.csv"
    data.write_text(Path(keyword_csv).read_text())
    gone, = sched.submit([tiny(dataset=str(data))])
    data.unlink()
    ok, = sched.submit([tiny(seed=1)])
    drive(sched, all_done(store))
    assert store.get_job(gone)["status"] == "failed" and "not found" in store.get_job(gone)["error"]
    assert store.get_job(ok)["status"] == "succeeded"  # the queue went on

    data.write_text(Path(keyword_csv).read_text())
    assert sched.retry(gone) == "queued"
    drive(sched, all_done(store))
    job = store.get_job(gone)
    assert job["status"] == "succeeded" and job["attempts"] == 2
    assert list(store.steps_df(job["run_id"])["step"]) == [1, 2, 3, 4]  # the new attempt replaced the old

    killed, = sched.submit([tiny(epochs=1000, max_steps=None, batch_size=8)])
    drive(sched, lambda: (store.get_job(killed)["step"] or 0) >= 1)
    os.kill(store.get_job(killed)["pid"], signal.SIGKILL)
    drive(sched, lambda: store.get_job(killed)["status"] in TERMINAL)
    job = store.get_job(killed)
    assert job["status"] == "failed" and "-9" in job["error"]
    assert job["last_log"] is not None


def test_simulated_oom_retries_with_half_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_FAULT_OOM_ABOVE_BATCH", "8")
    db = str(tmp_path / "oom.duckdb")
    with Store(db) as store:
        sched = Scheduler(store, db, slots=["cpu"])
        job_id, = sched.submit([tiny(batch_size=16, grad_accum=1)])
        drive(sched, all_done(store))
        job = store.get_job(job_id)
        assert job["status"] == "succeeded" and job["oom_retries"] == 1
        assert (job["config"]["batch_size"], job["config"]["grad_accum"]) == (8, 2)
        run = store.get_run(job["run_id"])
        assert run["config"]["batch_size"] == 8
        assert any("out of memory" in line for line in run["logs"])


class InstantBackend:
    """Finishes every job at once: the queue's bookkeeping under load, without training."""

    class Handle:
        pid, cancel_at = None, None

        def __init__(self):
            self.events = [{"event": "started", "time": time.time(), "total_steps": 1, "params": {}, "dataset": {}},
                           {"event": "finished", "time": time.time(), "summary": {"accuracy": 0.5}}]

        def drain(self):
            out, self.events = self.events, []
            return out

        def exit_code(self):
            return 0

        def cancel(self):
            self.cancel_at = time.monotonic()

    def start(self, spec, device, log_path):
        return self.Handle()

    def close(self):
        pass


def test_concurrent_submits_all_distinct_and_all_end(tmp_path):
    db = str(tmp_path / "load.duckdb")
    with Store(db) as store:
        sched = Scheduler(store, db, backend=InstantBackend(), slots=["cpu"] * 4)
        config = tiny()
        ids, errors = [], []

        def submit_many():
            try:
                for _ in range(25):
                    ids.extend(sched.submit([config]))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=submit_many) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(ids) == 200 and len(set(ids)) == 200
        drive(sched, all_done(store), timeout=120)
        assert set(statuses(store).values()) == {"succeeded"} and len(store.runs_records()) == 200


def test_remote_commands_reach_a_running_worker(tmp_path, interruptible):
    """`ftlab submit/jobs/cancel` while `ftlab worker` holds the database go through its inbox."""
    db = str(tmp_path / "r.duckdb")
    proc = subprocess.Popen([sys.executable, "-m", "ftlab", "worker", "--db", db], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible)
    try:
        assert "scheduler on" in proc.stdout.readline()
        with Lab(db) as lab:
            assert lab.remote
            ids = lab.submit([tiny(seed=s) for s in range(2)])
            deadline = time.monotonic() + 480  # two worker start-ups; slow when the machine is loaded
            while time.monotonic() < deadline:
                snap = {j["id"]: j["status"] for j in lab.jobs()} if Path(db + ".state.json").exists() else {}
                if all(snap.get(i) == "succeeded" for i in ids):
                    break
                time.sleep(0.5)
            assert all(snap.get(i) == "succeeded" for i in ids), snap
            assert len(lab.runs()) == 2
            with pytest.raises(FtlabError, match="in use"):
                Lab(db, start_scheduler=True)  # a second scheduler refuses to start
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)  # read what it prints while stopping: a full pipe would block it


def test_scheduler_killed_twice_mid_run_loses_nothing(tmp_path):
    """kill -9 of the scheduler while jobs run, twice; after the restarts every job succeeded once."""
    db = str(tmp_path / "k.duckdb")
    n = 3
    with Lab(db) as lab:
        ids = lab.submit([tiny(seed=s, max_steps=None, epochs=3, batch_size=8) for s in range(n)])

    def start():
        return subprocess.Popen([sys.executable, "-m", "ftlab", "worker", "--db", db, "--until-empty"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    for _ in range(2):
        proc = start()
        deadline, running = time.monotonic() + 120, []
        while time.monotonic() < deadline and not running:  # wait until a job is mid-run (reports steps)
            snap = Path(db + ".state.json")
            jobs = json.loads(snap.read_text())["jobs"] if snap.exists() else []
            running = [j["pid"] for j in jobs if (j.get("step") or 0) >= 2 and j["status"] == "running"]
            time.sleep(0.3)
        assert running
        proc.kill()
        proc.wait()
        time.sleep(1)
        assert not set(running) & set(worker_pids())  # the workers died with their scheduler
    proc = start()
    assert proc.wait(timeout=600) == 0
    with Store(db) as store:
        jobs = {j["id"]: j for j in store.jobs_records()}
        assert all(jobs[i]["status"] == "succeeded" for i in ids)
        assert any(jobs[i]["attempts"] > 1 for i in ids)
        for i in ids:
            steps = store.steps_df(jobs[i]["run_id"])
            total = store.get_run(jobs[i]["run_id"])["total_steps"]
            assert list(steps["step"]) == list(range(1, total + 1))  # complete, no duplicates
            evals = store.evals_df(jobs[i]["run_id"])
            assert not evals.duplicated(["step", "split"]).any()
