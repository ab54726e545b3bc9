"""The Ray backend under the real scheduler, on a local 2-CPU Ray: jobs succeed, a cancel kills the worker."""

import glob
import os
import time
import uuid

import pytest

ray = pytest.importorskip("ray")

from ftlab.config import RunConfig  # noqa: E402
from ftlab.queue.ray_backend import RayBackend  # noqa: E402
from ftlab.queue.scheduler import Scheduler  # noqa: E402
from ftlab.store import Store  # noqa: E402

# Marks the ftlab workers of THIS test: other tests on the machine run ftlab workers too. Set before
# ray.init, it reaches the Ray workers and, through them, the ftlab worker subprocesses.
TAG = "FTLAB_RAY_TEST=" + uuid.uuid4().hex


def tiny(seed: int, **kw) -> RunConfig:
    options = dict(model="tiny", dataset="tweets-sentiment", method="lora", max_train=64, max_eval=32,
                   max_steps=4, batch_size=16, seed=seed)
    return RunConfig(**{**options, **kw})


def our_workers() -> list[int]:
    pids = []
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            with open(proc + "/cmdline", "rb") as f:
                if b"ftlab.queue.worker" not in f.read():
                    continue
            with open(proc + "/environ", "rb") as f:
                if TAG.encode() in f.read().split(b"\0"):
                    pids.append(int(proc.rsplit("/", 1)[1]))
        except OSError:  # ended while we looked
            pass
    return pids


def tick_until(scheduler, done, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scheduler.tick()
        result = done()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout} s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name, value = TAG.split("=")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(name, value)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            db = str(tmp_path_factory.mktemp("ray") / "lab.duckdb")
            store = Store(db)
            backend = RayBackend()  # finds Ray running: uses it, and leaves it running on close()
            scheduler = Scheduler(store, db, backend=backend, slots=["cpu", "cpu"])  # Ray's 2 CPUs
            yield scheduler, store
            scheduler.shutdown()
            store.close()
        finally:
            ray.shutdown()


def test_jobs_run_as_ray_tasks(lab):
    scheduler, store = lab
    ids = scheduler.submit([tiny(0), tiny(1)])
    tick_until(scheduler, lambda: all(store.get_job(i)["status"] not in ("queued", "running") for i in ids), 150,
               "the jobs did not end")
    for job in map(store.get_job, ids):
        assert job["status"] == "succeeded", job
        assert len(store.steps_df(job["run_id"])) == 4
        evals = store.evals_df(job["run_id"])
        assert (evals["split"] == "test").any(), evals
        assert os.path.getsize(job["log_path"]) > 0  # stderr came back through the queue
    assert our_workers() == []


def test_cancel_kills_the_worker(lab):
    scheduler, store = lab
    (job_id,) = scheduler.submit([tiny(2, epochs=1000, max_steps=None)])
    tick_until(scheduler, lambda: (store.get_job(job_id)["step"] or 0) > 0, 120, "the job reported no step")
    assert len(our_workers()) == 1
    scheduler.cancel(job_id)
    tick_until(scheduler, lambda: store.get_job(job_id)["status"] == "canceled", 10, "the job was not canceled")
    assert store.get_run(store.get_job(job_id)["run_id"])["status"] == "canceled"
    deadline = time.monotonic() + 5  # PDEATHSIG comes as the Ray worker exits; allow for a slow kernel
    while our_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert our_workers() == []
