"""Time from a job's start to its first optimizer step, through ftlab's queue: cold worker vs spare.

A job "starts" when the scheduler hands it to a worker (the job's `started_at`); its first step is
the time of step 1 in the run's `steps` table. Both modes run the same grid through the real
scheduler over a fresh DuckDB store, after the queue sat idle for `--idle-s` seconds (the time a
user spends on the Launch form):

  cold    every job spawns `python -m ftlab.queue.worker`, which imports torch, transformers,
          peft and evaluate before it can read its data
  spare   the scheduler keeps a worker per device started ahead with those imports done
          (`Scheduler(spare_workers=True)`, what the dashboard and `ftlab worker` use)

Prints one JSON line per job and a table of the medians with the ratio cold / spare. The engine's
own `time_to_first_step_s` (measured inside `train()`, after the imports) is shown too.

    python benchmarks/first_step.py                        # minilm, full and lora, on cuda or cpu
    python benchmarks/first_step.py --dry-run              # tiny model, CPU plumbing check
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpu_sharing import run_until_empty  # noqa: E402 - the sibling script (benchmarks/ is sys.path[0])


def _epoch(value) -> float:
    return value.timestamp() if isinstance(value, datetime) else datetime.fromisoformat(str(value)).timestamp()


def run_mode(mode: str, configs: list, slot: str, idle_s: float, workdir: Path, timeout: float) -> list[dict]:
    from ftlab.queue.scheduler import Scheduler
    from ftlab.store import Store

    folder = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=workdir))
    db = str(folder / "first-step.duckdb")
    store = Store(db)
    sched = Scheduler(store, db, slots=[slot], spare_workers=mode == "spare")
    try:
        time.sleep(idle_s)
        sched.submit(configs)
        run_until_empty(sched, timeout, mode)
        jobs = sorted(store.jobs_records(), key=lambda j: str(j["started_at"]))
        failed = [(j["id"], j["status"], j["error"]) for j in jobs if j["status"] != "succeeded"]
        if failed:
            raise SystemExit(f"{mode}: jobs did not succeed: {failed}")
        out = []
        for job in jobs:
            run = store.get_run(job["run_id"])
            steps = store.steps_df(job["run_id"])
            first = float(steps.loc[steps["step"] == 1, "time"].iloc[0])
            out.append(dict(mode=mode, method=run["method"], model=run["model"], device=run.get("device"),
                            job_start_to_first_step_s=round(first - _epoch(job["started_at"]), 2),
                            engine_time_to_first_step_s=round(run["time_to_first_step_s"], 2),
                            wall_s=round(run["wall_s"], 2)))
        return out
    finally:
        sched.shutdown()
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="minilm")
    p.add_argument("--dataset", default="tweets-sentiment")
    p.add_argument("--methods", nargs="+", default=["full", "lora"])
    p.add_argument("--max-train", type=int, default=2000)
    p.add_argument("--max-eval", type=int, default=200)
    p.add_argument("--max-steps", type=int, default=20, help="Steps per job (the jobs only need to start).")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeat", type=int, default=2, help="Rounds of (cold, spare), alternating order.")
    p.add_argument("--idle-s", type=float, default=20, help="Idle seconds before the grid is queued.")
    p.add_argument("--device", choices=["cuda", "cpu"], help="Default: cuda when visible, else cpu.")
    p.add_argument("--dry-run", action="store_true", help="tiny model, 1 round, 4 steps.")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "ftlab-bench"))
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args(argv)
    if args.dry_run:
        args.model, args.max_train, args.max_eval, args.max_steps, args.repeat = "tiny", 128, 64, 4, 1
    if args.device is None:
        from ftlab.queue.backends import gpu_count

        args.device = "cuda" if gpu_count() else "cpu"
    slot = "cuda:0" if args.device == "cuda" else "cpu"

    from ftlab.config import RunConfig

    configs = [RunConfig(model=args.model, dataset=args.dataset, method=m, max_train=args.max_train,
                         max_eval=args.max_eval, max_steps=args.max_steps, batch_size=args.batch_size, device=args.device)
               for m in args.methods]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in range(args.repeat):
        for mode in (("cold", "spare") if r % 2 == 0 else ("spare", "cold")):
            print(f"# round {r + 1}: {mode}, {', '.join(args.methods)} on {args.model} ({slot})", file=sys.stderr,
                  flush=True)
            for row in run_mode(mode, configs, slot, args.idle_s, workdir, args.timeout):
                print(json.dumps(row), flush=True)
                rows.append(row)

    def median(mode: str, method: str, key: str) -> float:
        return statistics.median(x[key] for x in rows if x["mode"] == mode and x["method"] == method)

    print(f"\njob start -> first optimizer step on {slot} ({args.model}, medians of {args.repeat}; "
          "the engine's own figure, after imports, in brackets)")
    print(f"{'method':8} {'cold s':>14} {'spare s':>14} {'cold/spare':>10}")
    for m in args.methods:
        cold, spare = (median(x, m, "job_start_to_first_step_s") for x in ("cold", "spare"))
        ecold, espare = (median(x, m, "engine_time_to_first_step_s") for x in ("cold", "spare"))
        print(f"{m:8} {cold:7.2f} ({ecold:4.2f}) {spare:7.2f} ({espare:4.2f}) {cold / spare:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
