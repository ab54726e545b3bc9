"""The queue under load: its bookkeeping with hundreds of jobs, not training.

Every job runs on a backend that finishes it at once (`InstantBackend` below: the events a worker
sends, a started, one step, a test evaluation and a finished with a plausible summary, and its
exit status, all at the first look), so what is timed is ftlab's own part: the scheduler's ticks
over DuckDB, the inbox, the JSON snapshot other processes read, and the dashboard's Queue and
Compare tabs over the resulting database. No model is loaded and no worker process starts.

  load      N jobs (model "tiny", max_steps 1) sent as submit commands through the inbox
            (`ftlab.queue.inbox.send`, as a second process's `ftlab submit` would) by W writer
            threads at once, while the scheduler ticks as fast as it can until all have finished:
            ticks/s while draining, time from submit to start (median, p95).
  queue     the Queue tab's refresh (`Lab.jobs()`, `scheduler_status`, `rejected_commands`,
            `jobs_table`, `queue_summary`) over those N jobs: in the process that owns the
            database, and in a second process that reads the snapshot (remote mode).
  compare   the Compare tab's refresh with R finished runs in the database: `lab.runs_df()`,
            `ftlab.ui.compare.figures(lab, runs)` and `runs_table(runs)`.
  snapshot  with R finished runs and L jobs still running (one step a tick): the size of the
            snapshot files, the time to write them once, and the bytes written per second by the
            scheduler's own loop (`Scheduler.run`, its default 0.2 s poll) over S seconds.

    python benchmarks/queue_load.py                 # 500 jobs, 20 writers, 1,000 runs, 3 live jobs
    python benchmarks/queue_load.py --dry-run       # small numbers: a plumbing check

Prints one JSON line with every figure, then a table headed by the command. No timing is
asserted anywhere: on a shared machine they say where the time goes, not a pass mark.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METHODS = ("full", "lora", "bitfit", "head")


class InstantBackend:
    """A scheduler backend whose jobs finish at once (or, while `hold` is set, keep running and
    report one step at each look, until canceled)."""

    class Job:
        pid = None

        def __init__(self, spec: dict, hold: bool):
            self.config, self.hold, self.step, self.code = spec["config"], hold, 0, None
            self.queue = [{"event": "started", "time": time.time(), "total_steps": 10**6 if hold else 1,
                           "params": {}, "dataset": {}}]

        def drain(self) -> list[dict]:
            if self.hold and self.code is None:
                self.step += 1
                self.queue.append({"event": "step", "time": time.time(), "step": self.step, "loss": 1 / self.step,
                                   "samples_per_s": 100.0, "elapsed_s": 0.1 * self.step})
            elif self.code is None:
                self._finish()
            sent, self.queue = self.queue, []
            return sent

        def _finish(self) -> None:
            seed, now = self.config.get("seed", 0), time.time()
            score = 0.5 + 0.01 * (seed % 40)
            summary = {"accuracy": score, "macro_f1": score - 0.05, "eval_loss": 1 - score,
                       "trainable_params": 10_000 * (1 + METHODS.index(self.config.get("method", "lora"))),
                       "total_params": 500_000, "train_samples_per_s": 200.0 + seed, "peak_memory_mb": 300.0,
                       "memory_kind": "rss", "wall_s": 1.0, "steps": 1, "epochs": 1.0, "stopped_reason": "max_steps"}
            self.queue += [{"event": "step", "time": now, "step": 1, "loss": 1.0, "samples_per_s": 200.0},
                           {"event": "eval", "time": now, "step": 1, "split": "test", "metrics": {"accuracy": score}},
                           {"event": "finished", "time": now, "summary": summary, "per_class": []}]
            self.code = 0

        def exit_code(self):
            return self.code

        def cancel(self) -> None:
            if self.code is None:
                self.code = 3

    def __init__(self):
        self.hold = False

    def start(self, spec: dict, device: str, log_path: str):
        return self.Job(spec, self.hold)

    def close(self) -> None:
        pass


def configs(n: int, offset: int = 0) -> list:
    from ftlab.config import RunConfig

    return [RunConfig(model="tiny", dataset="tweets-sentiment", method=METHODS[i % len(METHODS)], seed=i, max_steps=1)
            for i in range(offset, offset + n)]


def drain(sched, *, writers: list[threading.Thread] = (), timeout: float = 600) -> int:
    """Tick with no pause until the writers are done and no job is waiting or running; the ticks."""
    from ftlab.queue import inbox

    ticks, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        sched.tick()
        ticks += 1
        if (not any(w.is_alive() for w in writers) and not sched.running and not inbox.pending(sched.db_path)
                and not sched.store.next_jobs(1)):
            return ticks
    raise SystemExit(f"jobs still waiting after {timeout:.0f} s")


def median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def queue_refresh(lab) -> None:
    """What the Queue tab's timer does every few seconds (ftlab/ui/queue.py's refresh)."""
    from ftlab.ui.logic.queue import jobs_table, queue_summary

    jobs = lab.jobs()
    queue_summary(jobs, lab.scheduler_status(), lab.rejected_commands())
    jobs_table(jobs)


def load(lab, n: int, n_writers: int) -> dict:
    from ftlab.queue import inbox
    from ftlab.queue.scheduler import job_specs

    todo = configs(n)
    shares = [todo[i::n_writers] for i in range(n_writers)]

    def write(share):
        for config in share:
            inbox.send(lab.db_path, {"op": "submit", "jobs": job_specs([config])})

    writers = [threading.Thread(target=write, args=(share,)) for share in shares]
    t0 = time.perf_counter()
    for w in writers:
        w.start()
    ticks = drain(lab.scheduler, writers=writers)
    elapsed = time.perf_counter() - t0
    jobs = lab.store.jobs_records()
    waits = [(datetime.fromisoformat(j["started_at"]) - datetime.fromisoformat(j["created_at"])).total_seconds()
             for j in jobs]
    if len(jobs) != n or {j["status"] for j in jobs} != {"succeeded"}:
        raise SystemExit(f"load: expected {n} succeeded jobs, got {[(j['id'], j['status']) for j in jobs][:5]}...")
    return {"drain_s": round(elapsed, 2), "ticks": ticks, "ticks_per_s": round(ticks / elapsed, 1),
            "submit_to_start_median_s": round(statistics.median(waits), 3),
            "submit_to_start_p95_s": round(percentile(waits, 0.95), 3)}


def remote_queue_refresh(db: str, repeat: int) -> dict:
    """The Queue tab's refresh timed in a second process, which reads the snapshot."""
    done = subprocess.run([sys.executable, __file__, "--remote-refresh", db, "--repeat", str(repeat)],
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"remote refresh failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _remote_refresh_main(db: str, repeat: int) -> int:
    from ftlab.service import Lab

    with Lab(db) as lab:
        if not lab.remote:
            raise SystemExit("expected a remote Lab: the benchmark's process holds the database")
        print(json.dumps({"remote_jobs": len(lab.jobs()), "remote_runs": len(lab.runs()),
                          "queue_refresh_remote_s": round(median_s(lambda: queue_refresh(lab), repeat), 4)}))
    return 0


def compare(lab, repeat: int) -> dict:
    from ftlab.ui.compare import figures
    from ftlab.ui.logic.compare import runs_table

    def refresh():
        runs = lab.runs_df()
        figures(lab, runs)
        runs_table(runs)

    refresh()  # plotly's first figure pays for imports and templates
    return {"runs": len(lab.runs_df()), "compare_refresh_s": round(median_s(refresh, repeat), 3)}


def snapshot(lab, n_live: int, seconds: float, repeat: int) -> dict:
    from ftlab.queue import inbox

    sched = lab.scheduler
    sched.backend.hold = True
    live = sched.submit(configs(n_live, offset=10**5))
    sched.tick()
    sched.tick()
    if sum(j["status"] == "running" for j in lab.store.jobs_records(status="running")) != n_live:
        raise SystemExit("snapshot: the live jobs did not start")
    write_s = median_s(lambda: sched.snapshot.write(lab.store, force=True), repeat)

    def after_a_finish():  # what the write costs when the finished set changed: the history file too
        sched.snapshot.version = None
        sched.snapshot.write(lab.store, force=True)

    history_write_s = median_s(after_a_finish, repeat)
    name = Path(lab.db_path).name
    sizes = {p.name[len(name) + 1:]: p.stat().st_size for p in sorted(Path(lab.db_path).parent.glob(name + ".*.json"))}

    written = {"bytes": 0, "writes": 0}
    real = inbox._atomic_write

    def counting(path, text):
        written["bytes"] += len(text.encode())
        written["writes"] += 1
        real(path, text)

    inbox._atomic_write = counting
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    try:
        timer.start()
        sched.run(stop=stop)
    finally:
        timer.cancel()
        inbox._atomic_write = real
    for job_id in live:
        sched.cancel(job_id)
    return {"live_jobs": n_live, "snapshot_files_bytes": sizes, "snapshot_write_s": round(write_s, 4),
            "snapshot_write_after_a_finish_s": round(history_write_s, 4),
            "snapshot_bytes_per_s": round(written["bytes"] / seconds), "snapshot_writes_per_s":
            round(written["writes"] / seconds, 2)}


def table(results: dict, command: str) -> str:
    rows = [
        ("drain: scheduler ticks/s", f"{results['ticks_per_s']} ({results['ticks']} ticks in {results['drain_s']} s)"),
        ("submit -> start, median / p95",
         f"{results['submit_to_start_median_s']} s / {results['submit_to_start_p95_s']} s"),
        (f"Queue tab refresh, {results['jobs']} jobs, owner", f"{results['queue_refresh_owner_s'] * 1000:.1f} ms"),
        (f"Queue tab refresh, {results['remote_jobs']} jobs, remote (snapshot)",
         f"{results['queue_refresh_remote_s'] * 1000:.1f} ms"),
        (f"Compare tab refresh, {results['runs']} runs", f"{results['compare_refresh_s'] * 1000:.0f} ms"),
        (f"snapshot files, {results['runs']} finished runs + {results['live_jobs']} live",
         ", ".join(f"{k} {v:,} B" for k, v in results["snapshot_files_bytes"].items())),
        ("snapshot write, a tick's (forced, once)", f"{results['snapshot_write_s'] * 1000:.1f} ms"),
        ("snapshot write, a tick after a finish", f"{results['snapshot_write_after_a_finish_s'] * 1000:.1f} ms"),
        ("snapshot bytes written per second", f"{results['snapshot_bytes_per_s']:,} B/s "
                                             f"({results['snapshot_writes_per_s']} writes/s)"),
    ]
    lines = [f"`{command}`", "", "| measure | value |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {value} |" for name, value in rows])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=500, help="Jobs sent through the inbox [500].")
    p.add_argument("--writers", type=int, default=20, help="Threads sending them [20].")
    p.add_argument("--slots", type=int, default=4, help="The scheduler's device slots [4].")
    p.add_argument("--runs", type=int, default=1000, help="Finished runs for Compare and the snapshot [1000].")
    p.add_argument("--live", type=int, default=3, help="Jobs left running while the snapshot is measured [3].")
    p.add_argument("--seconds", type=float, default=10, help="How long the snapshot's bytes are counted [10].")
    p.add_argument("--repeat", type=int, default=5, help="Timed refreshes and writes; the median is shown [5].")
    p.add_argument("--dry-run", action="store_true", help="Small numbers: 40 jobs, 4 writers, 60 runs, 2 s.")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "ftlab-bench"))
    p.add_argument("--remote-refresh", metavar="DB", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.remote_refresh:
        return _remote_refresh_main(args.remote_refresh, args.repeat)
    command = "python benchmarks/queue_load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.dry_run:
        args.jobs, args.writers, args.runs, args.live, args.seconds, args.repeat = 40, 4, 60, 2, 2.0, 2
    if args.runs < args.jobs:
        raise SystemExit("--runs must be at least --jobs: the load phase's jobs are runs too")

    from ftlab.service import Lab

    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="queue-load-", dir=args.workdir))
    db = str(folder / "load.duckdb")
    results = {"jobs": args.jobs, "writers": args.writers, "slots": args.slots}
    lab = Lab(db, slots=["cpu"] * args.slots)
    try:
        lab.scheduler.backend = InstantBackend()
        print(f"# load: {args.jobs} jobs from {args.writers} inbox writers", file=sys.stderr, flush=True)
        results.update(load(lab, args.jobs, args.writers))
        results["queue_refresh_owner_s"] = round(median_s(lambda: queue_refresh(lab), args.repeat), 4)
        lab.scheduler.snapshot.write(lab.store, force=True)
        results.update(remote_queue_refresh(db, args.repeat))
        print(f"# compare: {args.runs} finished runs", file=sys.stderr, flush=True)
        lab.scheduler.submit(configs(args.runs - args.jobs, offset=args.jobs))
        drain(lab.scheduler)
        results.update(compare(lab, args.repeat))
        print(f"# snapshot: {args.live} live jobs for {args.seconds:.0f} s", file=sys.stderr, flush=True)
        results.update(snapshot(lab, args.live, args.seconds, args.repeat))
    finally:
        lab.close()
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results), flush=True)
    print(table(results, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
