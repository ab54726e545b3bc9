"""A long queue: the Queue tab lists one page of it with exact counts, and the scheduler's state
file holds that page, not the whole queue, rewritten only when it changed."""

import json
import os

import pytest
from remote_kit import remote_lab

from ftlab.queue import inbox
from ftlab.service import Lab
from ftlab.store import Store
from ftlab.ui.logic import queue as queue_logic

QUEUED = 120


def config(seed: int) -> dict:
    return {"model": "tiny", "dataset": "tweets-sentiment", "method": "lora", "seed": seed, "max_steps": 1}


def fill(store: Store, queued: int = QUEUED, running: int = 2, succeeded: int = 3) -> None:
    """`running` running, `succeeded` succeeded and `queued` queued jobs, priorities mixed."""
    n = running + succeeded + queued
    store.add_jobs([{"id": f"j{i:04d}", "config": config(i), "priority": i % 3} for i in range(n)])
    for i in range(running):
        store.update_job(f"j{i:04d}", status="running", step=1, total_steps=4)
    for i in range(running, running + succeeded):
        store.update_job(f"j{i:04d}", status="succeeded")


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "q.duckdb")


@pytest.fixture
def filled(db):
    """The database's store, held open for the test, with running, queued and finished jobs (fill)."""
    with Store(db) as store:
        fill(store)
        yield store


def test_the_store_reads_a_page_and_counts_by_status(db):
    with Store(db) as store:
        fill(store)
        queued = store.jobs_records(status="queued")
        everything = store.jobs_records()
        assert store.jobs_records(queued_limit=7) == [j for j in everything if j["status"] != "queued" or j in queued[:7]]
        assert store.jobs_records(status="queued", queued_limit=0) == []
        assert store.jobs_records(status=["running", "queued"], queued_limit=3) == everything[:2 + 3]
        assert store.job_counts() == {"queued": QUEUED, "running": 2, "succeeded": 3}
        before = store.jobs_fingerprint("queued")
        assert before[0] == QUEUED and store.jobs_fingerprint("queued") == before
        store.update_job(queued[-1]["id"], priority=-5)
        assert store.jobs_fingerprint("queued") != before
        assert store.jobs_fingerprint("canceled") == (0, 0)


def test_the_queue_tab_shows_one_page_and_how_many_more_are_queued(db):
    with Lab(db) as lab:  # the dashboard's Lab (its scheduler not started): the jobs are its store's
        fill(lab.store)
        page = lab.jobs_page(queue_logic.PAGE)
        everything = lab.store.jobs_records()
        lab.store.cancel_queued([j["id"] for j in everything[2 + 10:2 + 15]], "too many")
        assert lab.jobs_page(queue_logic.PAGE)["counts"] == {"running": 2, "queued": QUEUED - 5, "succeeded": 3,
                                                             "canceled": 5}
        assert lab.jobs_page(200) == {"jobs": lab.store.jobs_records(), "counts": lab.store.job_counts()}  # all of it
    assert page["counts"] == {"running": 2, "queued": QUEUED, "succeeded": 3}
    statuses = [j["status"] for j in page["jobs"]]
    assert statuses == ["running"] * 2 + ["queued"] * queue_logic.PAGE + ["succeeded"] * 3
    assert [j["id"] for j in page["jobs"]] == [j["id"] for j in everything[:2 + queue_logic.PAGE]] + \
        [j["id"] for j in everything if j["status"] == "succeeded"]  # queue order, the first page
    table = queue_logic.jobs_table(page["jobs"], counts=page["counts"])
    more = QUEUED - queue_logic.PAGE
    assert len(table) == 2 + queue_logic.PAGE + 1 + 3
    row = table.iloc[2 + queue_logic.PAGE]  # after the last queued job listed, before the finished ones
    assert row["job"] == f"and {more} more queued" and row["status"] == "queued"
    assert queue_logic.picked_job(list(row)) is None  # clicking it picks no job
    assert queue_logic.picked_job(list(table.iloc[0])) == page["jobs"][0]["id"]
    summary = queue_logic.queue_summary(page["jobs"], counts=page["counts"])
    assert summary == f"**2** running · **{QUEUED}** queued · **3** succeeded"  # exact, not the page's


def test_the_state_file_holds_one_page_of_the_queue_and_exact_counts(db, filled, monkeypatch):
    store = filled
    writer = inbox.SnapshotWriter(db)
    assert writer.write(store, force=True)
    state = inbox.read_state(db)
    queued = [j for j in state["jobs"] if j["status"] == "queued"]
    assert len(queued) == inbox.PAGE <= queue_logic.PAGE
    assert [j["status"] for j in state["jobs"]].count("running") == 2
    assert state["counts"] == {"running": 2, "queued": QUEUED, "succeeded": 3}
    assert len(json.loads(inbox.queue_path(db).read_text())["jobs"]) == QUEUED - inbox.PAGE
    assert inbox.snapshot_path(db).stat().st_size < inbox.queue_path(db).stat().st_size

    remote = remote_lab(db, monkeypatch)  # another process: the whole queue when it asks for it
    assert remote.jobs() == store.jobs_records()
    page = remote.jobs_page(queue_logic.PAGE)  # the Queue tab's: the state and history files alone
    everything = store.jobs_records()
    assert page["jobs"] == everything[:2 + inbox.PAGE] + [j for j in everything if j["status"] == "succeeded"]
    assert page["counts"] == state["counts"]
    last = store.jobs_records(status="queued")[-1]["id"]  # far beyond the page
    assert remote.cancel(last) == "sent to the running scheduler"
    assert remote.job_log(last) == ""

    store.cancel_queued([j["id"] for j in store.jobs_records(status="queued")[10:]], "too many")
    assert writer.write(store, force=True)
    assert not inbox.queue_path(db).exists()  # all queued jobs fit the page: no queue file
    assert inbox.read_state(db)["counts"] == {"running": 2, "queued": 10, "succeeded": 3, "canceled": QUEUED - 10}
    assert remote.jobs() == store.jobs_records()


def test_the_state_file_is_not_rewritten_while_nothing_changes(db, filled, monkeypatch):
    store = filled
    writer = inbox.SnapshotWriter(db)
    assert writer.write(store, force=True)
    path = inbox.snapshot_path(db)
    first, queue_file = os.stat(path), os.stat(inbox.queue_path(db))
    assert not writer.write(store, force=True)  # two ticks, nothing changed
    assert not writer.write(store, force=True)
    again = os.stat(path)
    assert writer.writes == 1 and (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert os.stat(inbox.queue_path(db)).st_ino == queue_file.st_ino

    store.update_job("j0000", step=2)  # a running job's progress: the state changes, the queue file not
    assert writer.write(store, force=True) and writer.writes == 2
    assert os.stat(inbox.queue_path(db)).st_ino == queue_file.st_ino
    assert [j["step"] for j in inbox.read_state(db)["jobs"] if j["id"] == "j0000"] == [2]

    last = store.jobs_records(status="queued")[-1]["id"]
    store.update_job(last, priority=-1)  # a job after the page: the queue file follows
    assert writer.write(store, force=True)
    assert os.stat(inbox.queue_path(db)).st_ino != queue_file.st_ino
    assert inbox.read_snapshot(db)["jobs"] == store.jobs_records()

    monkeypatch.setattr(inbox, "KEEPALIVE_S", 0.0)  # unchanged, but due for its keep-alive
    before = writer.writes
    assert writer.write(store, force=True) and writer.writes == before + 1
    monkeypatch.undo()
    path.write_text(json.dumps({**inbox.read_state(db), "scheduler": "someone else's line"}))
    assert writer.write(store, force=True)  # the file is not what it wrote: written again
    assert inbox.read_state(db)["scheduler"] is None
