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

import duckdb
import pytest

from ftlab.config import RunConfig
from ftlab.errors import FtlabError
from ftlab.queue import inbox
from ftlab.queue.scheduler import Scheduler, job_specs
from ftlab.queue.worker import EXIT_CANCELED
from ftlab.service import Lab
from ftlab.store import Store
from ftlab.train.checkpoint import saved_steps
from remote_kit import remote_lab

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


def test_submit_run_finish_priority_and_cancel_queued(tmp_path):
    """The queue's order and bookkeeping, on jobs that report 4 steps without training (real workers
    train in the tests below)."""
    db = str(tmp_path / "q.duckdb")
    store = Store(db)
    backend = ScriptedBackend(lambda handle: handle.finish(steps=4))
    sched = Scheduler(store, db, backend=backend, slots=["cpu"])
    try:
        _submit_run_finish_priority_and_cancel_queued(sched, backend)
    finally:
        sched.shutdown()
        store.close()


def _submit_run_finish_priority_and_cancel_queued(sched, backend):
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
    assert [h.spec["config"]["seed"] for h in backend.handles] == [2, 1, 0]  # c, b, a; d never started
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
    drive(sched, lambda: (store.get_job(long)["step"] or 0) >= 1)
    assert sched.cancel(long) == "canceling"
    drive(sched, lambda: store.get_job(long)["status"] == "canceled", timeout=120)  # a hang guard, not a timing
    job = store.get_job(long)
    assert store.get_run(job["run_id"])["status"] == "canceled"
    assert len(store.steps_df(job["run_id"])) >= 1  # the metrics reached so far stay
    assert sched._free_slots() == ["cpu"]  # the slot is free for the next job (test_submit_run_... starts them)
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


def test_a_vanishing_file_and_a_killed_worker_fail_their_jobs_and_the_queue_goes_on(sched, tmp_path, keyword_csv):
    store = sched.store
    data = tmp_path / "vanish.csv"
    data.write_text(Path(keyword_csv).read_text())
    gone, = sched.submit([tiny(dataset=str(data))])
    data.unlink()
    drive(sched, all_done(store))
    assert store.get_job(gone)["status"] == "failed" and "not found" in store.get_job(gone)["error"]

    killed, = sched.submit([tiny(epochs=1000, max_steps=None, batch_size=8)])
    drive(sched, lambda: (store.get_job(killed)["step"] or 0) >= 1)
    sched.max_crash_retries = 0  # no re-queue after a kill here: that is test_a_worker_killed_by_a_signal_...
    os.kill(store.get_job(killed)["pid"], signal.SIGKILL)
    drive(sched, lambda: store.get_job(killed)["status"] in TERMINAL)
    job = store.get_job(killed)
    assert job["status"] == "failed" and "-9" in job["error"]
    assert job["last_log"] is not None


def test_out_of_memory_falls_back_in_the_order_allowed_and_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """A memory limit the worker enforces (on the run's estimated memory) is over what the asked
    setting, half its batch and gradient checkpointing need, and under what an nf4 base needs: the
    queue falls back three times, each retry resuming from the checkpoint at step 2, and the run
    records what it fell back to."""
    from ftlab.queue.fallback import next_fallback

    asked = tiny(model="tiny-llama", batch_size=2, max_steps=6, checkpoint_every="2",
                 oom_fallbacks=("batch", "checkpointing", "quantize"))
    chain = [asked]
    while (step := next_fallback(chain[-1])) is not None:
        chain.append(step[0])
    assert [c.fell_back[-1] for c in chain[1:]] == ["batch 2 -> 1 x accumulation 2", "gradient checkpointing",
                                                    "an nf4 base"]
    with Lab(str(tmp_path / "estimates.duckdb")) as lab:
        own = [(e := lab.estimate(c))["estimated_peak_mb"] - e["process_mb"] for c in chain]
    assert own[0] > own[1] > own[2] > own[3], own  # each fallback needs less memory than the one before
    monkeypatch.setenv("FTLAB_FAULT_MEMORY_LIMIT_MB", str((own[2] + own[3]) / 2))
    monkeypatch.setenv("FTLAB_FAULT_OOM_AT_STEP", "3")
    db = str(tmp_path / "oom.duckdb")
    with Store(db) as store:
        sched = Scheduler(store, db, slots=["cpu"])
        job_id, = sched.submit([asked])
        drive(sched, all_done(store))
        job = store.get_job(job_id)
        assert job["status"] == "succeeded" and job["oom_retries"] == 3, job["error"]
        run = store.get_run(job["run_id"])
        final = RunConfig(**run["config"])
        assert final.hash == chain[-1].hash and final.fell_back == chain[-1].fell_back
        assert (final.batch_size, final.grad_accum, final.gradient_checkpointing, final.quantize) == (1, 2, True, "nf4")
        logs = "\n".join(run["logs"])
        assert logs.count("resumed from the checkpoint at step 2") == 3 and logs.count("out of memory") >= 3
        # the curve once: each retry kept it through the checkpoint's step and went on from there
        assert store.steps_df(job["run_id"])["step"].tolist() == list(range(1, 7))
    # the batch fallback alone is the asked setting on Compare; checkpointing and quantization are not
    import pandas as pd

    from ftlab.charts.settings import _variants

    frame = pd.DataFrame([{"model": c.model, "dataset": c.dataset, "method": c.method, "config": c.to_dict()}
                          for c in chain])
    keys = _variants(frame)[0].tolist()
    assert keys[0] == keys[1] and len({keys[1], keys[2], keys[3]}) == 3


def test_a_run_with_no_fallback_left_fails_with_its_out_of_memory_error(tmp_path, monkeypatch):
    from ftlab.queue.fallback import next_fallback

    assert next_fallback(tiny(oom_fallbacks=())) is None
    assert next_fallback(tiny(method="full", batch_size=1, oom_fallbacks=("batch", "quantize"))) is None
    monkeypatch.setenv("FTLAB_FAULT_OOM_ABOVE_BATCH", "8")
    db = str(tmp_path / "oom.duckdb")
    with Store(db) as store:
        sched = Scheduler(store, db, slots=["cpu"])
        job_id, = sched.submit([tiny(batch_size=16, oom_fallbacks=())])
        drive(sched, all_done(store))
        job = store.get_job(job_id)
        assert job["status"] == "failed" and job["oom_retries"] == 0 and "--oom-fallbacks" in job["error"]


class ScriptedBackend:
    """Jobs that do what the test says, without training: `script(handle)` runs at each start (it may
    raise: the start fails), and the test may add events or set the exit status of a handle later."""

    class Handle:
        pid = None

        def __init__(self, spec):
            self.spec, self.events, self.code, self.cancel_at = spec, [], None, None
            self.exits_on_cancel = True  # as a worker does on SIGTERM

        def drain(self):
            out, self.events = self.events, []
            return out

        def exit_code(self):
            return self.code

        def cancel(self):
            if self.cancel_at is None:
                self.cancel_at = time.monotonic()
                if self.exits_on_cancel and self.code is None:
                    self.code = EXIT_CANCELED

        def start(self, total_steps=1):
            self.events.append({"event": "started", "time": time.time(), "total_steps": total_steps,
                                "params": {}, "dataset": {}})

        def finish(self, steps=1, code=0, stopped_reason="max_steps"):
            """What a worker that trains `steps` steps sends, then its exit status."""
            if not self.events:
                self.start(steps)
            now = time.time()
            self.events += [{"event": "step", "time": now, "step": s, "loss": 1.0 / s} for s in range(1, steps + 1)]
            summary = {"accuracy": 0.5, "stopped_reason": stopped_reason}
            self.events += [{"event": "eval", "time": now, "step": steps, "split": "test",
                             "metrics": {"accuracy": 0.5}},
                            {"event": "finished", "time": now, "summary": summary,
                             "per_class": [{"label": "good", "f1": 0.5}, {"label": "bad", "f1": 0.5}]}]
            self.code = code

    def __init__(self, script=None):
        self.script = script or (lambda handle: handle.start())  # default: runs until canceled
        self.handles = []

    def start(self, spec, device, log_path):
        handle = self.Handle(spec)
        self.script(handle)
        self.handles.append(handle)
        return handle

    def close(self):
        pass


def InstantBackend():
    """Finishes every job at once: the queue's bookkeeping under load, without training."""
    return ScriptedBackend(lambda handle: handle.finish())


def test_concurrent_submits_all_distinct_and_all_end(tmp_path):
    db = str(tmp_path / "load.duckdb")
    with Store(db) as store:
        sched = Scheduler(store, db, backend=InstantBackend(), slots=["cpu"] * 4)
        config = tiny()
        ids, errors = [], []

        def submit_many():
            try:
                for _ in range(10):
                    ids.extend(sched.submit([config]))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=submit_many) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(ids) == 80 and len(set(ids)) == 80
        drive(sched, all_done(store), timeout=120)
        assert set(statuses(store).values()) == {"succeeded"} and len(store.runs_records()) == 80


def run_until(sched, until, timeout=60):
    """The scheduler's own loop (Scheduler.run, which must survive errors) in a thread until `until()`."""
    stop = threading.Event()
    thread = threading.Thread(target=sched.run, kwargs={"stop": stop, "poll_s": 0.02}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until():
            assert thread.is_alive(), "the scheduler loop ended"
            time.sleep(0.02)
        assert until(), "timed out; jobs: " + str(statuses(sched.store))
        assert thread.is_alive(), "the scheduler loop ended"
    finally:
        stop.set()
        thread.join(timeout=10)


def fail_once(monkeypatch, obj, name, at_call=1, error=None):
    """Make obj.name raise (a DuckDB error by default) on its `at_call`-th call, once."""
    real, calls = getattr(obj, name), []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == at_call:
            raise error or duckdb.IOException(f"simulated failure of {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, flaky)
    return calls


@pytest.fixture
def scripted(tmp_path):
    """A scheduler on a ScriptedBackend (2 slots) and its store; call it with the script."""
    made = []

    def make(script=None, slots=2):
        db = str(tmp_path / "s.duckdb")
        store = Store(db)
        made.append(store)
        return Scheduler(store, db, backend=ScriptedBackend(script), slots=["cpu"] * slots)

    yield make
    for store in made:
        store.close()


def test_a_job_that_cannot_start_fails_alone_and_the_queue_goes_on(scripted):
    def script(handle):
        if handle.spec["config"]["seed"] == 1:
            raise RuntimeError("no such device")
        handle.finish()

    sched = scripted(script, slots=1)
    store = sched.store
    a, b, c = sched.submit([tiny(seed=s) for s in range(3)])
    store.add_jobs([{"id": "jbroken", "config": ["not", "a", "config"]}])  # e.g. written by an older ftlab
    run_until(sched, all_done(store))
    jobs = {j["id"]: j for j in store.jobs_records()}
    assert jobs[a]["status"] == jobs[c]["status"] == "succeeded"
    assert jobs[b]["status"] == "failed" and "RuntimeError: no such device" in jobs[b]["error"]
    assert jobs["jbroken"]["status"] == "failed" and jobs["jbroken"]["error"].startswith("TypeError")
    runs = {r["id"]: r for r in store.runs_records()}
    assert runs[jobs[b]["run_id"]]["status"] == "failed"  # its run says why, and no run row is left queued
    assert sorted(runs) == sorted(j["run_id"] for j in jobs.values() if j["run_id"])
    assert sched.health is None


def test_a_database_error_mid_tick_is_retried_and_loses_no_event(scripted, monkeypatch):
    sched = scripted(lambda h: h.finish(steps=4))
    store = sched.store
    job, = sched.submit([tiny()])
    seen = []
    calls = fail_once(monkeypatch, store, "record_event", at_call=3)  # the second step event
    real = store.record_event
    monkeypatch.setattr(store, "record_event", lambda *a: (seen.append(sched.health), real(*a))[1])
    run_until(sched, all_done(store))
    assert len(calls) > 3
    assert seen[2] is None and seen[3].startswith("scheduler: database error, retrying (1)") and "simulated" in seen[3]
    assert sched.health is None  # healthy again
    run_id = store.get_job(job)["run_id"]
    assert store.get_job(job)["status"] == store.get_run(run_id)["status"] == "succeeded"
    assert list(store.steps_df(run_id)["step"]) == [1, 2, 3, 4]
    assert len(store.class_results_df(run_id)) == 2


def test_the_dashboard_shows_a_failing_database_until_it_recovers(tmp_path, monkeypatch):
    db = str(tmp_path / "d.duckdb")
    with Lab(db, start_scheduler=True) as lab:
        deadline = time.monotonic() + 30
        while inbox.read_snapshot(db) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lab.scheduler_status() is None
        broken = threading.Event()
        broken.set()
        real = lab.store.next_jobs

        def next_jobs(limit):
            if broken.is_set():
                raise duckdb.IOException("simulated: disk I/O error")
            return real(limit)

        monkeypatch.setattr(lab.store, "next_jobs", next_jobs)
        while time.monotonic() < deadline and "(2)" not in (lab.scheduler_status() or ""):
            time.sleep(0.05)
        status = lab.scheduler_status()
        assert status.startswith("scheduler: database error, retrying (2)") and "disk I/O error" in status
        time.sleep(inbox.SNAPSHOT_EVERY_S)
        assert inbox.read_snapshot(db)["scheduler"].startswith("scheduler: database error")  # other processes see it
        broken.clear()
        while time.monotonic() < deadline and lab.scheduler_status() is not None:
            time.sleep(0.05)
        assert lab.scheduler_status() is None and lab._thread.is_alive()


def test_a_remote_view_shows_the_schedulers_status_and_its_silence(tmp_path):
    db = str(tmp_path / "held.duckdb")
    Store(db).close()
    hold = ("import sys; from ftlab.store import Store; s = Store(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold, db],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with Lab(db) as lab:
            assert lab.remote and lab.scheduler_status() is None  # no snapshot yet: jobs() says so
            status = "scheduler: database error, retrying (2): IOException: disk full"
            inbox.snapshot_path(db).write_text(json.dumps({"time": time.time(), "jobs": [], "runs": [],
                                                           "scheduler": status}))
            assert lab.scheduler_status() == status
            old = time.time() - 120
            os.utime(inbox.snapshot_path(db), (old, old))
            assert lab.scheduler_status().startswith("scheduler: no news for 120 s")
    finally:
        holder.communicate("", timeout=30)


def test_the_remote_view_is_the_owners_while_jobs_run_finish_and_come_back(scripted, monkeypatch):
    def script(handle):
        if handle.spec["config"]["seed"] == 3:
            raise RuntimeError("no such device")
        if handle.spec["config"]["seed"] != 2:  # seed 2 runs until canceled
            handle.finish(steps=2)

    sched = scripted(script)
    store, db = sched.store, sched.db_path
    remote = remote_lab(db, monkeypatch)

    def same():
        sched.snapshot.write(store, force=True)
        assert remote.jobs() == store.jobs_records()
        # (Lab.runs adds each run's name, "label", to the store's records)
        assert [{k: v for k, v in r.items() if k != "label"} for r in remote.runs()] == store.runs_records()
        assert [r["id"] for r in remote.runs(status="succeeded")] == [r["id"] for r in store.runs_records(status="succeeded")]
        assert remote.scheduler_status() is None

    a, b, c, d, e = sched.submit([tiny(seed=s) for s in range(5)])
    sched.cancel(e)
    same()  # nothing ran yet
    for _ in range(4):
        sched.tick()
        same()
    assert statuses(store) == {a: "succeeded", b: "succeeded", c: "running", d: "failed", e: "canceled"}
    sched.retry(d)  # from the finished set back to the queue
    same()
    sched.tick()
    same()
    sched.cancel(c)
    sched.tick()
    same()
    assert inbox.read_state(db)["jobs"] == [] and len(inbox.read_snapshot(db)["jobs"]) == 5


def test_a_job_in_its_test_pass_says_so_instead_of_eta_0(scripted):
    """Between its last step and its end a job evaluates: the queue shows how far, not a finished-looking ETA."""
    def script(handle):
        handle.start(4)
        handle.events += [{"event": "step", "time": time.time(), "step": s, "loss": 1.0, "elapsed_s": s}
                          for s in range(1, 5)]
        handle.events.append({"event": "progress", "time": time.time(), "split": "test", "done": 600, "total": 1000})

    sched = scripted(script)
    store = sched.store
    job_id, = sched.submit([tiny()])
    drive(sched, lambda: (store.get_job(job_id)["phase"] or {}).get("done") == 600)
    job = store.get_job(job_id)
    assert job["eta_s"] is None and job["step"] == job["total_steps"] == 4
    from ftlab.ui.logic.queue import jobs_table

    assert jobs_table([job])["progress"].iloc[0] == "evaluating test: 600 / 1,000"
    handle = sched.backend.handles[0]
    handle.events.append({"event": "progress", "time": time.time(), "split": "test", "done": 1000, "total": 1000})
    handle.finish(steps=4)
    drive(sched, all_done(store))
    assert store.get_job(job_id)["phase"] is None and store.get_job(job_id)["status"] == "succeeded"


def test_a_retry_replaces_the_failed_attempt(scripted):
    """A failed job retried: its second attempt's steps replace the first's, on the same run."""
    attempts = []

    def script(handle):
        attempts.append(handle)
        if len(attempts) == 1:
            handle.start(4)
            handle.events += [{"event": "step", "time": time.time(), "step": s, "loss": 1.0} for s in (1, 2)]
            handle.events.append({"event": "failed", "time": time.time(), "error": "data file not found"})
            handle.code = 1
        else:
            handle.finish(steps=4)

    sched = scripted(script)
    store = sched.store
    job_id, = sched.submit([tiny()])
    drive(sched, all_done(store))
    assert store.get_job(job_id)["status"] == "failed" and "not found" in store.get_job(job_id)["error"]
    assert sched.retry(job_id) == "queued"
    drive(sched, all_done(store))
    job = store.get_job(job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 2
    assert list(store.steps_df(job["run_id"])["step"]) == [1, 2, 3, 4]  # the new attempt replaced the old
    assert len(store.runs_records()) == 1


def test_the_per_tick_snapshot_does_not_grow_with_finished_runs(scripted):
    sched = scripted(lambda h: h.finish() if h.spec["config"]["seed"] else h.start(), slots=11)  # seed 0 runs on
    store, db = sched.store, sched.db_path
    sched.submit([tiny(seed=0)])
    sched.tick()
    sched.tick()  # its started event recorded: nothing about it changes after this
    sched.snapshot.write(store, force=True)
    before, size_before = inbox.read_state(db), inbox.snapshot_path(db).stat().st_size
    sched.submit([tiny(seed=s) for s in range(1, 101)])
    while len(store.runs_records(status="succeeded")) < 100:
        sched.tick()
    sched.snapshot.write(store, force=True)
    after, size_after = inbox.read_state(db), inbox.snapshot_path(db).stat().st_size
    same = ("pid", "scheduler", "jobs", "runs")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}  # the one live job and its run
    assert after["counts"] == {"running": 1, "succeeded": 100}  # the finished jobs counted, not listed
    grown = len(json.dumps(after["counts"])) - len(json.dumps(before["counts"]))
    assert abs(size_after - size_before - grown) <= 4  # else only the time's digits may differ
    assert inbox.history_path(db).stat().st_size > 100 * 500  # where the finished runs went
    assert len(inbox.read_snapshot(db)["runs"]) == 101


def test_a_clean_stop_requeues_its_running_jobs_but_not_a_canceled_one(scripted):
    sched = scripted()  # jobs run until canceled
    store = sched.store
    a, b, c = sched.submit([tiny(seed=s) for s in range(3)])
    sched.tick()
    assert statuses(store) == {a: "running", b: "running", c: "queued"}
    assert sched.cancel(b) == "canceling"
    sched.shutdown()  # the user's cancel had not been reaped yet
    assert statuses(store) == {a: "interrupted", b: "canceled", c: "queued"}
    again = Scheduler(store, sched.db_path, backend=ScriptedBackend(), slots=["cpu"])
    assert statuses(store) == {a: "queued", b: "canceled", c: "queued"}
    assert store.get_run(store.get_job(b)["run_id"])["status"] == "canceled"
    again.shutdown()


def test_after_a_crash_a_job_whose_worker_had_finished_is_not_run_again(scripted):
    def script(handle):  # everything sent, the process not yet exited when the scheduler dies
        handle.finish(steps=2)
        handle.code = None

    sched = scripted(script)
    store = sched.store
    job, = sched.submit([tiny()])
    sched.tick()
    sched.tick()
    assert store.get_run(store.get_job(job)["run_id"])["status"] == "succeeded"
    Scheduler(store, sched.db_path, backend=ScriptedBackend(), slots=["cpu"])  # the restart after a kill -9
    assert store.get_job(job)["status"] == "succeeded"


def one_running_job(scripted):
    """A scripted scheduler with one job started, its worker running until the test says otherwise."""
    sched = scripted()
    job, = sched.submit([tiny()])
    sched.tick()
    return sched, sched.store, job, sched.backend.handles[0]


def test_a_cancel_after_the_worker_finished_keeps_the_success(scripted):
    sched, store, job, handle = one_running_job(scripted)
    handle.finish(steps=2)  # the worker finished and exited...
    assert sched.cancel(job) == "canceling"  # ...and the cancel lands before the scheduler saw it
    sched.tick()
    run = store.get_run(store.get_job(job)["run_id"])
    assert store.get_job(job)["status"] == run["status"] == "succeeded"


def test_an_engine_stopped_by_a_cancel_ends_canceled(scripted):
    sched, store, job, handle = one_running_job(scripted)
    handle.exits_on_cancel = False  # the ZeroGPU backend: the engine stops at its next step and reports
    sched.cancel(job)
    handle.finish(steps=1, code=None, stopped_reason="canceled")
    sched.tick()
    run_id = store.get_job(job)["run_id"]
    assert store.get_run(run_id)["status"] == "canceled"  # its finished event said so
    handle.code = 0
    sched.tick()
    assert store.get_job(job)["status"] == store.get_run(run_id)["status"] == "canceled"


def test_a_worker_killed_by_a_signal_is_requeued_a_bounded_number_of_times(scripted):
    kills = {"left": 2}

    def script(handle):
        handle.start()
        if handle.spec["config"]["seed"] == 0 and kills["left"]:
            kills["left"] -= 1
            handle.code = -9  # e.g. the kernel's OOM killer
        elif handle.spec["config"]["seed"] == 1:
            handle.code = -11  # crashes every time
        else:
            handle.finish(steps=2)

    sched = scripted(script)
    store = sched.store
    survivor, crasher = sched.submit([tiny(seed=0), tiny(seed=1)])
    run_until(sched, all_done(store))
    job = store.get_job(survivor)
    assert job["status"] == "succeeded" and job["attempts"] == 3
    job = store.get_job(crasher)
    assert job["status"] == "failed" and "-11" in job["error"] and job["attempts"] == sched.max_crash_retries + 1


def test_inbox_commands_wait_out_a_database_error_and_bad_ones_are_set_aside(scripted, monkeypatch):
    sched = scripted(lambda h: h.finish())
    store, db = sched.store, sched.db_path
    specs = job_specs([tiny()])
    inbox.send(db, {"op": "submit", "jobs": specs})
    inbox.send(db, {"op": "priority", "job": specs[0]["id"], "priority": 3})  # must wait for the submit
    fail_once(monkeypatch, store, "add_jobs")
    with pytest.raises(duckdb.Error):
        sched.tick()
    assert len(list(inbox.inbox_dir(db).glob("*.json"))) == 2  # both still there, in order
    sched.tick()
    assert store.get_job(specs[0]["id"])["priority"] == 3
    assert not list(inbox.inbox_dir(db).glob("*.json"))

    corrupt = inbox.inbox_dir(db) / "00000000000000000001-corrupt.json"
    corrupt.write_text('{"op": "submit", "jobs": [')
    with pytest.raises(FtlabError, match="unknown command 'explode'"):
        inbox.send(db, {"op": "explode"})  # refused where it is written; written by another tool, set aside:
    (inbox.inbox_dir(db) / "00000000000000000002-explode.json").write_text('{"op": "explode"}')
    inbox.send(db, {"op": "cancel", "job": "jnothere"})
    sched.tick()
    assert not list(inbox.inbox_dir(db).glob("*.json"))
    rejected = inbox.rejected(db)
    assert [r["file"] for r in rejected][0] == corrupt.name and len(rejected) == 3
    assert "JSON" in rejected[0]["reason"] and rejected[0]["command"].startswith('{"op": "submit"')
    assert "explode" in rejected[1]["reason"] and "jnothere" in rejected[2]["reason"]
    assert (inbox.inbox_dir(db) / "rejected" / corrupt.name).exists()
    store.close()
    with Lab(db) as lab:
        assert lab.rejected_commands() == rejected


def test_remote_commands_reach_a_running_worker(tmp_path, interruptible, capsys):
    """`ftlab submit/jobs/cancel` while `ftlab worker` holds the database go through its inbox; a
    submit through a symlink to the database reaches the same worker; a command that can never apply
    and a second worker are refused with one line, and the worker goes on."""
    from ftlab import cli

    db = str(tmp_path / "r.duckdb")
    link = tmp_path / "link.duckdb"
    link.symlink_to(db)
    proc = subprocess.Popen([sys.executable, "-m", "ftlab", "worker", "--db", db], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible)
    try:
        assert "scheduler on" in proc.stdout.readline()
        assert cli.main(["worker", "--db", db]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: database") and f"in use by another ftlab process (pid {proc.pid})" in err
        assert "\n" not in err and "Traceback" not in err
        with Lab(str(link)) as via_link:
            assert via_link.remote
            (first,) = via_link.submit([tiny(seed=0)])
        assert not (tmp_path / "link.duckdb.inbox").exists()
        assert cli.main(["priority", first, "3000000000", "--db", str(link)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: priority must lie between") and "\n" not in err
        with Lab(db) as lab:
            assert lab.remote
            ids = [first] + lab.submit([tiny(seed=1)])
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


def test_a_stopped_job_resumes_from_its_checkpoint_and_keeps_its_curve(sched, keyword_csv):
    """A clean stop mid-run, then a restart: the job goes on from its last checkpoint (the log
    says so), its curve keeps the steps before it, and no step is recorded twice."""
    store = sched.store
    job, = sched.submit([tiny(dataset=keyword_csv, max_train=320, max_steps=40, checkpoint_every="2",
                              eval_every=10)])
    run_dir = lambda: sched.artifacts / f"run-{store.get_job(job)['run_id']}"  # noqa: E731
    drive(sched, lambda: store.get_job(job)["run_id"] is not None and len(saved_steps(run_dir())) > 0
          and store.get_job(job)["status"] == "running", timeout=180)
    sched.shutdown()  # a clean stop: the job is interrupted with a checkpoint behind it
    kept = saved_steps(run_dir())[0]
    assert store.get_job(job)["status"] == "interrupted" and kept >= 2
    again = Scheduler(store, sched.db_path, slots=["cpu"])
    try:
        drive(again, all_done(store), timeout=240)
    finally:
        again.shutdown()
    run = store.get_run(store.get_job(job)["run_id"])
    assert run["status"] == "succeeded", run["error"]
    assert any(f"resumed from the checkpoint at step {kept} of 40" in line for line in run["logs"]), run["logs"]
    steps = store.steps_df(run["id"])
    assert list(steps["step"]) == list(range(1, 41))  # every step once: the kept ones and the redone ones
    assert saved_steps(run_dir()) == []  # a finished run keeps no checkpoint
    # the worker's log lines, as they happened: training steps, validations, checkpoints, the test pass
    log = Path(store.get_job(job)["log_path"]).read_text()
    for line in ("step 40 / 40: loss", "validation at step 10:", "checkpoint at step", "evaluating test:"):
        assert line in log, (line, log[-2000:])
    assert any(line.startswith("validation at step 40:") for line in run["logs"]), run["logs"]


# ---- commands that can never apply, retry of a finished job, cancelling many (outside-test faults) ----

def test_a_priority_out_of_range_is_refused_where_it_is_written_and_where_it_is_applied(scripted):
    sched = scripted(lambda h: h.finish(), slots=1)
    store, db = sched.store, sched.db_path
    (job,) = job_specs([tiny()])
    with pytest.raises(FtlabError, match="priority must lie between"):
        inbox.send(db, {"op": "priority", "job": job["id"], "priority": 3_000_000_000})
    with pytest.raises(FtlabError, match="priority must lie between"):
        job_specs([tiny()], priority=-3_000_000_000)
    for odd in (float("nan"), float("inf"), "1e400", 1.5, True, "high"):
        with pytest.raises(FtlabError, match="priority must be a whole number"):
            inbox.check_priority(odd)
    assert not inbox.pending(db)  # nothing written
    # the same command written by another tool: set aside with its reason, and the queue goes on
    inbox.send(db, {"op": "submit", "jobs": [job]})
    bad = inbox.inbox_dir(db) / "99999999999999999990-bad.json"
    bad.write_text(json.dumps({"op": "priority", "job": job["id"], "priority": 3_000_000_000}))
    sched.tick()
    run_until(sched, all_done(store))
    assert store.get_job(job["id"])["status"] == "succeeded" and not inbox.pending(db)
    (rejected,) = inbox.rejected(db)
    assert rejected["file"] == bad.name and "priority must lie between" in rejected["reason"]
    assert sched.health is None


def test_a_command_the_database_refuses_is_set_aside_not_retried_forever(scripted, monkeypatch):
    sched = scripted(lambda h: h.finish(), slots=1)
    store, db = sched.store, sched.db_path
    first, second = job_specs([tiny(seed=0), tiny(seed=1)])
    inbox.send(db, {"op": "submit", "jobs": [first]})
    inbox.send(db, {"op": "submit", "jobs": [second]})
    calls = fail_once(monkeypatch, store, "add_jobs", error=duckdb.ConversionException("value out of range for INT32"))
    sched.tick()  # no database error escapes: the refused command is set aside, the next one applies
    assert len(calls) == 2 and [j["id"] for j in store.jobs_records()] == [second["id"]]
    (rejected,) = inbox.rejected(db)
    assert "the database refused its values" in rejected["reason"] and "INT32" in rejected["reason"]

    # a database error that never passes: retried, then set aside after MAX_TRIES ticks
    monkeypatch.setattr(inbox, "MAX_TRIES", 3)
    always = duckdb.IOException("disk on fire")
    monkeypatch.setattr(store, "add_jobs", lambda jobs: (_ for _ in ()).throw(always))
    (third,) = job_specs([tiny(seed=2)])
    inbox.send(db, {"op": "submit", "jobs": [third]})
    monkeypatch.setattr(store, "answers", lambda: False)  # an outage of the database itself: never set aside
    for _ in range(5):
        with pytest.raises(duckdb.Error):
            sched.tick()
    assert len(inbox.pending(db)) == 1
    monkeypatch.setattr(store, "answers", lambda: True)  # it answers, this command keeps failing: set aside
    for _ in range(2):
        with pytest.raises(duckdb.Error):
            sched.tick()
    sched.tick()
    assert not inbox.pending(db) and "failed 3 times on a database error" in inbox.rejected(db)[-1]["reason"]


def test_retry_refuses_a_succeeded_job_with_the_reason(scripted):
    sched = scripted(lambda h: h.finish(), slots=1)
    store = sched.store
    (job,) = sched.submit([tiny()])
    run_until(sched, all_done(store))
    run_before = store.get_run(store.get_job(job)["run_id"])
    with pytest.raises(FtlabError, match="succeeded; only a failed, canceled or interrupted job can be retried"):
        sched.retry(job)
    assert store.get_job(job)["status"] == "succeeded"
    assert store.get_run(run_before["id"])["accuracy"] == run_before["accuracy"]


def test_cancelling_many_queued_jobs_starts_none_of_them(scripted):
    sched = scripted(lambda h: None, slots=1)  # a worker that never finishes: the first job holds the slot
    store, db = sched.store, sched.db_path
    ids = sched.submit([tiny(seed=s) for s in range(40)])
    sched.tick()
    running = [j["id"] for j in store.jobs_records(status="running")]
    assert len(running) == 1
    queued = [i for i in ids if i not in running]
    inbox.send(db, {"op": "cancel", "jobs": queued[:30]})
    out = sched.cancel_many(queued[30:] + ["jnothere"])
    assert out["jnothere"].startswith("job jnothere does not exist")
    sched.tick()  # the inbox's cancel applies in one transaction before the slot could take another
    statuses_now = statuses(store)
    assert [i for i in queued if statuses_now[i] != "canceled"] == []
    assert [j["id"] for j in store.jobs_records(status="running")] == running
