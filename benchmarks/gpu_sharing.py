"""N small LoRA jobs through ftlab's queue: all at once on one device vs one after another.

Both modes go through the real scheduler (`ftlab.queue.scheduler.Scheduler` over a fresh DuckDB
`Store`), so both pay the same per-job costs (worker process start, imports, model load,
tokenization); only the number of device slots differs:

  together    slots = [DEVICE] * N   (N jobs share the GPU, like `ftlab worker --jobs-per-gpu N`)
  sequential  slots = [DEVICE]       (one job at a time)

The jobs are identical but for their seed (like `ftlab submit --seeds N`). Prints one JSON line per
mode (total wall time from submit to the last job done, per-job times and throughput) and the
ratio sequential / together (>1: sharing the device finishes the batch of jobs sooner).

    python benchmarks/gpu_sharing.py --n 8                     # on a GPU: minilm, cuda:0 
    python benchmarks/gpu_sharing.py --dry-run                 # CPU: tiny, slots ["cpu"] * N

On CPU the scheduler gives each of N concurrent jobs cores/N threads (OMP_NUM_THREADS) and a lone
job torch's default (all cores), so the dry run checks the plumbing and shows start-up overlap and
threading effects, not a GPU's behaviour.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_until_empty(sched, timeout: float, what: str) -> None:
    """The scheduler's own loop until no job is queued or running, or SystemExit after `timeout`."""
    expired = threading.Event()
    timer = threading.Timer(timeout, expired.set)
    timer.start()
    try:
        sched.run(until_empty=True, stop=expired, poll_s=0.1)
    finally:
        timer.cancel()
    if expired.is_set():
        raise SystemExit(f"{what}: jobs still running after {timeout:.0f}s")


def run_mode(mode: str, configs: list, slot: str, n: int, workdir: Path, timeout: float) -> dict:
    from ftlab.queue.scheduler import Scheduler
    from ftlab.store import Store

    folder = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=workdir))
    db = str(folder / "sharing.duckdb")
    store = Store(db)
    slots = [slot] * n if mode == "together" else [slot]
    sched = Scheduler(store, db, slots=slots)
    try:
        t0 = time.perf_counter()
        sched.submit(configs)
        run_until_empty(sched, timeout, mode)
        total = time.perf_counter() - t0
        jobs = store.jobs_records()
        runs = {r["id"]: r for r in store.runs_records()}
    finally:
        sched.shutdown()
        store.close()
    failed = [(j["id"], j["status"], j["error"]) for j in jobs if j["status"] != "succeeded"]
    if failed:
        raise SystemExit(f"{mode}: jobs did not succeed: {failed}")
    per_job = [runs[j["run_id"]] for j in jobs]
    samples = sum(_train_samples(r) for r in per_job)
    threads = getattr(sched.backend, "cpu_threads", None) if slot == "cpu" else None
    out = dict(mode=mode, slots=slots, jobs=len(jobs), total_s=round(total, 2),
               cpu_threads_per_job=(threads or "torch default (all cores)") if slot == "cpu" else None,
               aggregate_train_samples_per_s=round(samples / total, 2),
               job_wall_s=[round(r["wall_s"], 2) for r in per_job],
               job_train_samples_per_s=[round(r["train_samples_per_s"], 1) for r in per_job],
               job_peak_memory_mb=[round(r["peak_memory_mb"], 1) for r in per_job],
               job_accuracy=[round(r["accuracy"], 4) for r in per_job],
               memory_kind=per_job[0].get("memory_kind"))
    shutil.rmtree(folder, ignore_errors=True)
    return out


def _train_samples(run: dict) -> float:
    sizes = run.get("dataset_sizes") or {}
    return sizes.get("train", 0) * (run.get("epochs") or 0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=8, help="Jobs (and, together, slots on the device) [8].")
    p.add_argument("--model", default="minilm")
    p.add_argument("--dataset", default="tweets-sentiment")
    p.add_argument("--max-train", type=int, default=4000)
    p.add_argument("--max-eval", type=int, default=1000)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", choices=["cuda", "cpu"], help="Default: cuda when visible, else cpu.")
    p.add_argument("--dry-run", action="store_true",
                   help="CPU plumbing check: tiny model, 2 jobs, 128 examples, cpu slots.")
    p.add_argument("--order", choices=["together-first", "sequential-first"], default="together-first")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "ftlab-bench"))
    p.add_argument("--timeout", type=float, default=3600)
    args = p.parse_args(argv)
    if args.dry_run:
        args.model, args.device, args.max_train, args.max_eval, args.batch_size = "tiny", "cpu", 128, 64, 16
        args.n = min(args.n, 2)
    if args.device is None:
        from ftlab.queue.backends import gpu_count

        args.device = "cuda" if gpu_count() else "cpu"
    slot = "cuda:0" if args.device == "cuda" else "cpu"

    from ftlab.config import RunConfig

    configs = [RunConfig(model=args.model, dataset=args.dataset, method="lora", max_train=args.max_train,
                         max_eval=args.max_eval, epochs=args.epochs, batch_size=args.batch_size, seed=i,
                         eval_every=10**9)  # no validation pass: the final test evaluation only
               for i in range(args.n)]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    modes = ["together", "sequential"]
    if args.order == "sequential-first":
        modes.reverse()
    results = {}
    for mode in modes:
        print(f"# {mode}: {args.n} lora jobs on {args.model}, slots {slot} x {args.n if mode == 'together' else 1}",
              file=sys.stderr, flush=True)
        results[mode] = run_mode(mode, configs, slot, args.n, workdir, args.timeout)
        print(json.dumps(dict(results[mode], model=args.model, dataset=args.dataset, max_train=args.max_train,
                              epochs=args.epochs, batch_size=args.batch_size, device=args.device)), flush=True)
    together, sequential = results["together"]["total_s"], results["sequential"]["total_s"]
    print(f"\n{args.n} LoRA jobs on {slot}: together {together:.1f}s, one after another {sequential:.1f}s, "
          f"ratio sequential/together {sequential / together:.2f}x "
          f"(median job wall together {statistics.median(results['together']['job_wall_s']):.1f}s vs "
          f"{statistics.median(results['sequential']['job_wall_s']):.1f}s alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
