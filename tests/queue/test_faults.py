"""The queue under faults: 10 tiny jobs on 2 CPU slots while the harness kills the
scheduler (`ftlab worker`, a process of its own) twice with SIGKILL, SIGKILLs one running worker,
stops the scheduler once cleanly (SIGTERM), makes one of its database calls fail, drops a corrupt
command into its inbox and cancels a job as it finishes. Afterwards every job must have ended as
what happened to it says, once, with no duplicated rows.

The plan (which faults, when, which job) comes from a seed, printed at the start; replay one with
FTLAB_FAULT_SEED=N. What the harness did is part of every failure message.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_queue import tiny, worker_pids

from ftlab.queue import inbox
from ftlab.service import Lab
from ftlab.store import Store

N_JOBS = 10  # enough that the last phase (a cancel as a job finishes) always has jobs left to run
SEED = int(os.environ.get("FTLAB_FAULT_SEED") or random.SystemRandom().randrange(1_000_000))
PHASE_TIMEOUT_S = 150


def job_of(pid: int) -> str | None:
    """The job a worker runs: its stderr is that job's log, `job-<id>.log` (no spare workers here)."""
    try:
        name = os.path.basename(os.readlink(f"/proc/{pid}/fd/2"))
    except OSError:
        return None
    return name[len("job-"):-len(".log")] if name.startswith("job-") and name.endswith(".log") else None


class Harness:
    def __init__(self, db: str, folder: Path):
        self.db, self.folder = db, folder
        self.proc: subprocess.Popen | None = None
        self.t0 = time.monotonic()
        self.started = 0
        self.done: list[str] = [f"seed {SEED}"]  # what the harness did, for failure messages
        self.overlaps: list[tuple[str, list[int]]] = []

    def note(self, what: str) -> None:
        self.done.append(f"{time.monotonic() - self.t0:6.1f}s {what}")

    def fail(self, why: str) -> AssertionError:
        logs = "".join(f"\n--- scheduler {i} ---\n" + self.log(i)[-1500:] for i in range(1, self.started + 1))
        return AssertionError(f"{why} [FTLAB_FAULT_SEED={SEED}]\n" + "\n".join(self.done) + logs)

    def log(self, i: int) -> str:
        return (self.folder / f"scheduler-{i}.log").read_text(errors="replace")

    def start(self, **env) -> None:
        self.started += 1
        out = open(self.folder / f"scheduler-{self.started}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "ftlab", "worker", "--db", self.db, "--cpu-slots", "2",
                                      "--no-spare-workers"], stdout=out, stderr=subprocess.STDOUT,
                                     env={**os.environ, **env})
        out.close()
        self.note(f"started scheduler {self.started} (pid {self.proc.pid}) {env or ''}")

    def stop(self, sig: int) -> None:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.note(f"{signal.Signals(sig).name} to scheduler {self.started}: exit {code}")
        if sig == signal.SIGTERM and code != 0:
            raise self.fail(f"a clean stop exited with {code}")

    def jobs(self) -> dict[str, dict]:
        """The jobs as the running scheduler last wrote them ({} until it has)."""
        snap = inbox.read_snapshot(self.db)
        if not snap or snap.get("pid") != self.proc.pid:
            return {}
        return {j["id"]: j for j in snap["jobs"]}

    def workers(self) -> dict[str, list[int]]:
        """Live workers by job; two at once for one job is a job running twice."""
        by_job: dict[str, list[int]] = {}
        for pid in worker_pids():
            job = job_of(pid)
            if job:
                by_job.setdefault(job, []).append(pid)
        for job, pids in by_job.items():
            if len(pids) > 1:
                self.overlaps.append((job, pids))
        return by_job

    def wait(self, what: str, until, timeout: float = PHASE_TIMEOUT_S):
        """Poll (checking workers all the while) until `until(jobs)` gives something truthy; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.workers()
            if self.proc.poll() is not None:
                raise self.fail(f"scheduler {self.started} exited ({self.proc.returncode}) waiting for {what}")
            found = until(self.jobs())
            if found:
                return found
            time.sleep(0.15)
        raise self.fail(f"timed out waiting for {what}")

    def running(self, jobs, *, importing=False) -> list[str]:
        """Jobs whose worker is alive (a kill now loses work that must be redone); `importing`: only
        those whose worker is still importing, so they run for seconds more."""
        live = self.workers()
        return sorted(i for i, j in jobs.items() if j["status"] == "running" and i in live
                      and not (importing and imports_done(j)))

    def pause(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.workers()
            time.sleep(0.1)


@pytest.fixture
def harness(tmp_path):
    h = Harness(str(tmp_path / "faults.duckdb"), tmp_path)
    yield h
    if h.proc is not None and h.proc.poll() is None:  # a failed test leaves no scheduler behind
        h.proc.kill()
        h.proc.wait()


def imports_done(job) -> bool:
    """This attempt's worker has written its first line to the job's log (one per attempt): its
    imports are done, the job itself starts."""
    log = Path(job["log_path"] or "")
    return log.is_file() and log.read_text(errors="replace").count("imports done") >= job["attempts"]


def count(jobs, status):
    return sum(j["status"] == status for j in jobs.values())


def test_the_queue_survives_kills_stops_a_database_error_and_bad_commands(harness, keyword_csv):
    print(f"fault test seed: {SEED} (replay with FTLAB_FAULT_SEED={SEED})")
    rng = random.Random(SEED)
    h, db = harness, harness.db
    with Lab(db) as lab:
        ids = lab.submit([tiny(dataset=keyword_csv, seed=i, max_steps=rng.choice([2, 3, 4]), max_train=32,
                               max_eval=16, batch_size=8) for i in range(N_JOBS)])

    # 1. A database call fails once mid-run; later, kill -9 of the scheduler at a random moment.
    h.start(FTLAB_FAULT_DB_ERROR=f"record_event:{rng.randint(2, 12)}")
    h.wait("the injected database error", lambda jobs: "database error" in h.log(1))
    h.note("the scheduler reported the database error")
    h.wait("a job running", h.running)
    h.pause(rng.uniform(0, 2))
    h.stop(signal.SIGKILL)

    # 2. A corrupt command; one running worker killed; the scheduler killed again.
    h.start()
    inbox.inbox_dir(db).mkdir(exist_ok=True)
    corrupt = inbox.inbox_dir(db) / f"{time.time_ns():020d}-corrupt.json"
    corrupt.write_text('{"op": "cancel", "job": ')
    h.note(f"dropped {corrupt.name}")

    def kill_a_worker(jobs):  # one still importing: it cannot have finished its job yet
        live, importing = h.workers(), h.running(jobs, importing=True)
        if not importing:
            return None
        victim = rng.choice(importing)
        try:
            os.kill(live[victim][0], signal.SIGKILL)
        except (KeyError, ProcessLookupError):  # it ended in between: pick again
            return None
        return victim, live[victim][0]

    victim, pid = h.wait("a worker to kill", kill_a_worker)
    h.note(f"SIGKILL to worker {pid} of job {victim}")
    target = len(ids) // 4 + rng.randint(0, 2)
    h.wait(f"{target} jobs succeeded", lambda jobs: count(jobs, "succeeded") >= target)
    h.pause(rng.uniform(0, 4))
    h.stop(signal.SIGKILL)

    # 3. A clean stop (SIGTERM) while jobs run: they must be queued again on the next start.
    h.start()
    target = len(ids) // 2 + rng.randint(0, 2)
    h.wait(f"{target} jobs succeeded and one starting",
           lambda jobs: count(jobs, "succeeded") >= target and h.running(jobs, importing=True))
    h.stop(signal.SIGTERM)
    with Store(db) as store:
        stopped = [j["id"] for j in store.jobs_records(status="interrupted")]
    h.note(f"interrupted by the clean stop: {stopped}")

    # 4. A cancel that lands as a job finishes: a tiny job loads, trains and evaluates within about
    # half a second of its worker's imports, so a cancel sent 0-0.4 s after they are done (and read
    # by the scheduler at its next tick) lands before or after the worker's last event.
    h.start()

    def ready_or_all_ended(jobs):  # a job's worker ready; or none left (the last ones ran between two looks)
        ready = [i for i in h.running(jobs) if imports_done(jobs[i])]
        ended = len(jobs) == N_JOBS and all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs.values())
        return ready or (["(none left)"] if ended else [])

    canceled = rng.choice(h.wait("a job's worker ready", ready_or_all_ended))
    if canceled == "(none left)":
        canceled = None
        h.note("every job ended before one could be caught finishing: no cancel this time")
    else:
        h.pause(rng.uniform(0, 0.4))
        inbox.send(db, {"op": "cancel", "job": canceled})
        h.note(f"cancel sent for {canceled}")
    h.wait("every job ended", lambda jobs: len(jobs) == N_JOBS and all(
        j["status"] in ("succeeded", "failed", "canceled") for j in jobs.values()))
    h.stop(signal.SIGTERM)
    h.note(f"done in {time.monotonic() - h.t0:.0f} s")

    if h.overlaps:
        raise h.fail(f"a job ran in two workers at once: {h.overlaps[:3]}")
    if stopped == []:
        raise h.fail("the clean stop interrupted no job: the test did not exercise it")
    with Store(db) as store:
        jobs = {j["id"]: j for j in store.jobs_records()}
        runs = {r["id"]: r for r in store.runs_records()}
        for job_id, job in jobs.items():
            expected = ("succeeded", "canceled") if job_id == canceled else ("succeeded",)
            if job["status"] not in expected:
                raise h.fail(f"job {job_id} ended {job['status']} ({job['error']}), expected {' or '.join(expected)}")
            run_id = job["run_id"]
            if runs[run_id]["status"] != job["status"]:
                raise h.fail(f"job {job_id} is {job['status']} but its run {run_id} is {runs[run_id]['status']}")
            classes = store.class_results_df(run_id)
            if job["status"] == "canceled":  # what the worker reached: it never finished
                if len(classes):
                    raise h.fail(f"job {job_id} was canceled after its run finished")
                continue
            steps = list(store.steps_df(run_id)["step"])
            if steps != list(range(1, runs[run_id]["total_steps"] + 1)):
                raise h.fail(f"job {job_id}: steps {steps}")
            evals = store.evals_df(run_id)
            if evals.duplicated(["step", "split"]).any() or "test" not in set(evals["split"]):
                raise h.fail(f"job {job_id}: evaluations {evals[['step', 'split']].values.tolist()}")
            if sorted(classes["label"]) != ["bad", "good", "meh"]:
                raise h.fail(f"job {job_id}: per-class rows {list(classes['label'])}")
        if sorted(runs) != sorted(j["run_id"] for j in jobs.values()):
            raise h.fail(f"runs {sorted(runs)} are not one per job")
        if jobs[victim]["attempts"] < 2:
            raise h.fail(f"the job whose worker was killed ({victim}) was not run again")
        if not all(jobs[j]["attempts"] >= 2 for j in stopped):
            raise h.fail("a job interrupted by the clean stop was not run again")
    with Lab(db) as lab:
        rejected = {r["file"]: r["reason"] for r in lab.rejected_commands()}
    if "JSON" not in rejected.get(corrupt.name, ""):
        raise h.fail(f"the corrupt command is not reported: {rejected}")
    if canceled:
        h.note(f"the job canceled as it finished ended {jobs[canceled]['status']}")
    print("\n".join(h.done))
