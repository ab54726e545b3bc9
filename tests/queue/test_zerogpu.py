"""The zerogpu backend: jobs in-process through `spaces.GPU` when the package exists, the same
code path undecorated when it does not (a fake `spaces` module stands in for the Space's)."""

import importlib
import sys
import time
import types

import pytest

from ftlab.config import RunConfig
from ftlab.queue import zerogpu
from ftlab.queue.scheduler import Scheduler
from ftlab.store import Store


def tiny(**kw):
    base = dict(model="tiny", dataset="tweets-sentiment", method="lora", max_train=64, max_eval=32, batch_size=16,
                max_steps=4, seed=0, epochs=1)
    return RunConfig(**{**base, **kw})


def drive(sched, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sched.tick()
        jobs = sched.store.jobs_records()
        if jobs and all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs):
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"timed out: {sched.store.jobs_records()}")


@pytest.fixture
def fake_spaces(monkeypatch):
    """A `spaces` module whose GPU decorator records the duration it would ask for."""
    calls = []

    def GPU(duration):  # noqa: N802 - the real decorator's name
        def wrap(fn):
            def run(spec):
                calls.append(duration(spec))
                yield from fn(spec)
            return run
        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    module = importlib.reload(zerogpu)
    yield module, calls
    monkeypatch.delitem(sys.modules, "spaces")
    importlib.reload(zerogpu)


def run_jobs(tmp_path, backend, configs, cancel_first=False):
    db = str(tmp_path / "z.duckdb")
    store = Store(db)
    sched = Scheduler(store, db, backend=backend, slots=backend.slots)
    try:
        ids = sched.submit(configs)
        if cancel_first:
            sched.tick()
            while not store.steps_df(store.get_job(ids[0])["run_id"]).shape[0]:
                sched.tick()
                time.sleep(0.05)
            sched.cancel(ids[0])
        return drive(sched), store
    finally:
        sched.shutdown()


def test_without_spaces_jobs_run_in_process(tmp_path):
    assert "spaces" not in sys.modules or not zerogpu.GPU_AVAILABLE_VIA_SPACES
    assert zerogpu.gpu_job_events is zerogpu.job_events
    jobs, store = run_jobs(tmp_path, zerogpu.ZeroGPUBackend(), [tiny(), tiny(method="full")])
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], [j["error"] for j in jobs]
    for job in jobs:
        run = store.get_run(job["run_id"])
        assert run["status"] == "succeeded" and run["steps"] == 4 and run["accuracy"] is not None
        assert job["pid"] is None  # no process of its own: nothing to kill after a crash
    store.close()


def test_with_spaces_each_job_is_one_gpu_allocation_sized_by_its_budget(tmp_path, fake_spaces):
    module, calls = fake_spaces
    assert module.GPU_AVAILABLE_VIA_SPACES
    jobs, store = run_jobs(tmp_path, module.ZeroGPUBackend(), [tiny(time_budget_s=100), tiny(method="ia3")])
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], [j["error"] for j in jobs]
    assert calls == [100 + module.OVERHEAD_S, module.DEFAULT_BUDGET_S + module.OVERHEAD_S]
    log = open(jobs[0]["log_path"]).read()
    assert "inside @spaces.GPU, duration 160 s" in log
    store.close()


def test_cancel_stops_a_running_in_process_job(tmp_path):
    jobs, store = run_jobs(tmp_path, zerogpu.ZeroGPUBackend(), [tiny(max_steps=2000, max_train=2000)],
                           cancel_first=True)
    assert jobs[0]["status"] == "canceled"
    run = store.get_run(jobs[0]["run_id"])
    assert run["status"] == "canceled" and 0 < len(store.steps_df(run["id"])) < 200
    store.close()


def test_a_bad_config_fails_with_its_reason(tmp_path):
    events = list(zerogpu.job_events({"config": {**tiny().to_dict(), "method": "nonsense"}}))
    assert [e["event"] for e in events] == ["failed", zerogpu.EXIT_EVENT] and "nonsense" in events[0]["error"]
    assert events[-1]["code"] == 1  # the local worker's exit status for a failed job
