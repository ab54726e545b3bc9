"""The Queue tab and the scheduler's state file against the length of the queue.

For each size N (default 50, 500 and 5,000 queued jobs), a database is built through the store:
N queued jobs (model "tiny", four methods, mixed priorities), 2 running and 20 finished ones.
Then, per size:

  refresh     the CPU time (time.process_time, the median of --repeat calls) of one call of the
              Queue tab's refresh, the handler its timer calls every 2 s (ftlab/ui/queue.py), in
              the process that owns the database, and in a second process that reads the
              scheduler's snapshot (remote mode);
  sent        the bytes of what it returns: the table as gradio sends it (JSON) and the summary;
  state       the size of `<db>.state.json` (and of `<db>.queue.json`, the queued jobs after the
              state's page, which the refresh does not read), and the CPU time of one snapshot
              tick that finds nothing changed (the scheduler's every second);
  whole       for contrast, the same refresh over every job (`Lab.jobs()`: what the tab listed
              before it showed one page) and a state file holding every queued job.

    python benchmarks/queue_tab.py                       # 50, 500, 5,000 queued jobs
    python benchmarks/queue_tab.py --sizes 50 5000 --repeat 3

Prints one JSON line per size, then a table headed by the command: the point is that the
refresh, what it sends and the state file stay flat while the queue grows. No timing is asserted
anywhere; run it by hand on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METHODS = ("full", "lora", "bitfit", "head")
RUNNING, FINISHED = 2, 20


def cpu_s(fn, repeat: int) -> float:
    """The median CPU time (this process, all its threads) of `fn()`."""
    fn()  # the first call pays for imports and caches
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def specs(n: int, offset: int = 0) -> list[dict]:
    from ftlab.config import RunConfig

    out = []
    for i in range(offset, offset + n):
        config = RunConfig(model="tiny", dataset="tweets-sentiment", method=METHODS[i % len(METHODS)], seed=i,
                           max_steps=1)
        out.append({"id": f"j{i:06d}", "config": config.to_dict(), "config_hash": config.hash, "priority": i % 3})
    return out


def fill(store, queued: int) -> None:
    """RUNNING running, FINISHED succeeded and `queued` queued jobs, added through the store."""
    store.add_jobs(specs(RUNNING + FINISHED + queued))
    for i in range(RUNNING):
        store.update_job(f"j{i:06d}", status="running", step=3, total_steps=10, eta_s=42.0, samples_per_s=120.0,
                         last_loss=0.5)
    for i in range(RUNNING, RUNNING + FINISHED):
        store.update_job(f"j{i:06d}", status="succeeded", step=10, total_steps=10, finished_at=time.time())


def tab(lab):
    """The Queue tab built on `lab`: its refresh handler and its table component."""
    import gradio as gr

    from ftlab.ui import queue as queue_ui

    with gr.Blocks():
        view = queue_ui.build(lab)
    return view


def sent_bytes(view, result) -> int:
    """What one refresh sends: the table as gradio serializes it, and the summary's text."""
    summary, table, _ = result
    return len(view.table.postprocess(table).model_dump_json().encode()) + len(str(summary).encode())


def refresh_figures(lab, repeat: int) -> dict:
    view = tab(lab)
    result = view.refresh("")
    return {"refresh_cpu_s": round(cpu_s(lambda: view.refresh(""), repeat), 5), "sent_bytes": sent_bytes(view, result),
            "table_rows": len(result[1])}


def whole_queue_figures(lab, repeat: int) -> dict:
    """The refresh over every job, as the tab did before it listed one page."""
    from ftlab.ui.logic.queue import jobs_table, queue_summary

    view = tab(lab)

    def refresh():
        jobs = lab.jobs()
        return queue_summary(jobs, lab.scheduler_status(), lab.rejected_commands()), jobs_table(jobs), ""

    return {"whole_refresh_cpu_s": round(cpu_s(refresh, repeat), 5), "whole_sent_bytes": sent_bytes(view, refresh())}


def remote_figures(db: str, repeat: int) -> dict:
    """The refresh timed in a second process, which reads the snapshot."""
    done = subprocess.run([sys.executable, __file__, "--remote", db, "--repeat", str(repeat)],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"remote refresh failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _remote_main(db: str, repeat: int) -> int:
    from ftlab.service import Lab

    with Lab(db) as lab:
        if not lab.remote:
            raise SystemExit("expected a remote Lab: the benchmark's process holds the database")
        figures = refresh_figures(lab, repeat)
    print(json.dumps({"remote_refresh_cpu_s": figures["refresh_cpu_s"], "remote_sent_bytes": figures["sent_bytes"]}))
    return 0


def snapshot_figures(lab, repeat: int) -> dict:
    from ftlab.queue import inbox

    writer = inbox.SnapshotWriter(lab.db_path)
    writer.write(lab.store, force=True)
    tick_s = cpu_s(lambda: writer.write(lab.store, force=True), repeat)
    queue_file = inbox.queue_path(lab.db_path)
    whole = {"time": time.time(), "pid": 0, "scheduler": None, "jobs": lab.store.jobs_records(status=inbox.LIVE_JOBS),
             "runs": lab.store.runs_records(status=inbox.LIVE_RUNS), "history": writer.version}
    return {"state_bytes": inbox.snapshot_path(lab.db_path).stat().st_size,
            "queue_file_bytes": queue_file.stat().st_size if queue_file.exists() else 0,
            "unchanged_tick_cpu_s": round(tick_s, 5), "state_writes": writer.writes,
            "whole_state_bytes": len(json.dumps(whole, default=str).encode())}


def measure(queued: int, repeat: int, workdir: str) -> dict:
    from ftlab.service import Lab

    folder = Path(tempfile.mkdtemp(prefix="queue-tab-", dir=workdir))
    db = str(folder / "tab.duckdb")
    try:
        with Lab(db) as lab:  # its scheduler is not started: nothing runs, the jobs stay as filled
            fill(lab.store, queued)
            out = {"queued": queued, "running": RUNNING, "finished": FINISHED}
            out.update(refresh_figures(lab, repeat))
            out.update(snapshot_figures(lab, repeat))
            out.update(remote_figures(db, repeat))
            out.update(whole_queue_figures(lab, repeat))
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def table(results: list[dict], command: str) -> str:
    head = ("| queued | refresh CPU, owner | refresh CPU, remote | sent a refresh | table rows | state file | "
            "queue file | snapshot tick, unchanged | whole queue: refresh CPU | whole queue: sent | "
            "whole queue: state file |")
    lines = [f"`{command}`", "", head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        lines.append(
            f"| {r['queued']:,} | {r['refresh_cpu_s'] * 1000:.1f} ms | {r['remote_refresh_cpu_s'] * 1000:.1f} ms | "
            f"{r['sent_bytes']:,} B | {r['table_rows']} | {r['state_bytes']:,} B | {r['queue_file_bytes']:,} B | "
            f"{r['unchanged_tick_cpu_s'] * 1000:.1f} ms | {r['whole_refresh_cpu_s'] * 1000:.1f} ms | "
            f"{r['whole_sent_bytes']:,} B | {r['whole_state_bytes']:,} B |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000], help="Queued jobs [50 500 5000].")
    p.add_argument("--repeat", type=int, default=5, help="Timed calls; the median is shown [5].")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "ftlab-bench"))
    p.add_argument("--remote", metavar="DB", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.remote:
        return _remote_main(args.remote, args.repeat)
    command = "python benchmarks/queue_tab.py " + " ".join(sys.argv[1:] if argv is None else argv)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    results = []
    for n in args.sizes:
        print(f"# {n:,} queued jobs", file=sys.stderr, flush=True)
        results.append(measure(n, args.repeat, args.workdir))
        print(json.dumps(results[-1]), flush=True)
    print(table(results, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
