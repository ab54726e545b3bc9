"""A lab in use, written through the store: the database Compare's readability tests, its screenshots
and its speed benchmark (compare_refresh.py) read.

    python benchmarks/busy_db.py --db /tmp/busy.duckdb              # 4 experiments, 55 runs
    python benchmarks/busy_db.py --db /tmp/10k.duckdb --runs 10000   # 182 labs, each with its own settings

One "lab" is what a user does in an afternoon on MiniLM: the default grid (full, LoRA, IA3, BitFit,
prompt tuning over 3 seeds, with the majority-class and zero-shot baselines), a tuning study of LoRA
on 256 examples (12 trials, the tuned and the default setting over 3 seeds), a learning curve (head
and LoRA at 64, 256 and 1,000 examples over 3 seeds) and a continuation (LoRA and full from the
grid onto another dataset). Scores are drawn around what those methods reach on tweets-sentiment,
with seed noise; every run has its logged steps (`--steps`, default 50) and validation passes.

Each further lab tries settings of its own, as a lab does over months: its own learning rate
(lab k: (k + 1) x 1e-5) for every run and its own tuned rate, so the settings (3 seeds each) grow
with the runs instead of piling seeds onto the first lab's. The baselines train nothing and are
not run again: the first lab's stand for every later one.

Writes go through the store's own code: a run is `Store._insert_run` (what `create_run` runs), and
its `started` and `finished` events the handlers `Store.record_event` calls (`_on_started`,
`_on_finished`: the run's columns, summary and scores), one transaction per lab instead of one per
event. Bulk-inserted, one INSERT per lab into the same tables a worker's events fill: the training
steps (`steps`) and the validation passes (`evals`, 4 a run, one row per metric) — the rows the
`step` and `eval` events would write one at a time.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlab.config import RunConfig  # noqa: E402
from ftlab.experiments import new_experiment  # noqa: E402
from ftlab.store import STEP_COLUMNS, Store  # noqa: E402

# method -> (accuracy at 2,000 examples, trainable parameters, train samples/s, peak MB)
METHODS = {"full": (0.705, 22_700_000, 38.0, 1650.0), "lora": (0.690, 75_000, 61.0, 1180.0),
           "ia3": (0.697, 20_000, 66.0, 1150.0), "bitfit": (0.672, 120_000, 58.0, 1220.0),
           "prompt": (0.550, 8_000, 70.0, 1100.0), "head": (0.610, 1_200, 120.0, 900.0)}
BASELINES = {"majority": 0.425, "zero-shot": 0.41}
LABELS = ["negative", "neutral", "positive"]


def _accuracy(method: str, n_train: int | None, rng: random.Random, shift: float = 0.0) -> float:
    """A score that grows with the training set (log-linear below 2,000 examples), with seed noise."""
    base = METHODS[method][0] + shift
    n = n_train or 2000
    drop = 0.06 * max(0.0, math.log10(2000 / n)) * (2.0 if method in ("full", "prompt") else 1.0)
    return min(0.99, max(0.05, base - drop + rng.gauss(0, 0.008)))


class _LabWriter:
    """One lab's runs, written in one transaction of `store`: each run through the store's own
    insert and event handlers, its steps and validation passes gathered and inserted at the end."""

    def __init__(self, store: Store, rng: random.Random, steps: int):
        self.store, self.rng, self.steps = store, rng, steps
        self._steps: list[pd.DataFrame] = []
        self._evals: list[tuple] = []
        self._experiments: set[str] = set()
        self.n = 0

    def run(self, config: RunConfig, experiment: dict, *, accuracy: float, steps: int,
            extra: dict | None = None) -> int:
        store, rng = self.store, self.rng
        trains = config.method in METHODS
        acc0, params, speed, memory = METHODS.get(config.method, (accuracy, 0, 0.0, 600.0))
        if experiment["id"] not in self._experiments:  # create_run adds it with each run; once is the same
            store._add_experiment(experiment)
            self._experiments.add(experiment["id"])
        run_id = store._insert_run(config.to_dict(), config.hash, model=config.model, dataset=config.dataset,
                                   task=config.task, method=config.method, seed=config.seed,
                                   versions={"torch": "2.13.0"}, status="running",
                                   experiment_id=experiment["id"])
        n_train = config.max_train or 2000
        t0 = time.time() - 3600
        store._on_started(run_id, {"event": "started", "time": t0, "device": "cpu", "total_steps": steps,
                                   "params": {"total_params": 22_700_000, "trainable_params": params},
                                   "dataset": {"fingerprint": "f", "sizes": {"train": n_train, "validation": 500,
                                                                             "test": 1000},
                                               "label_names": LABELS}})
        if trains and steps:
            s = range(1, steps + 1)
            loss = [1.1 * math.exp(-2.0 * i / steps) + 0.55 + rng.gauss(0, 0.03) for i in s]
            self._steps.append(pd.DataFrame({
                "run_id": run_id, "step": s, "time": [t0 + i for i in s], "epoch": [i / steps for i in s],
                "loss": loss, "lr": 1e-4, "samples_per_s": speed, "tokens_per_s": speed * 40,
                "elapsed_s": [float(i) for i in s]}))
            for k in (1, 2, 3, 4):
                step = max(1, steps * k // 4)
                metrics = {"accuracy": accuracy - 0.04 * (4 - k) + rng.gauss(0, 0.005), "loss": 0.9 - 0.05 * k,
                           "eval_samples_per_s": 300.0}
                self._evals += [(run_id, step, "validation", m, v, t0 + step) for m, v in metrics.items()]
        wall = (n_train * 1.0 / speed + 20.0) * rng.uniform(0.95, 1.05) if trains else rng.uniform(3, 6)
        summary = {"accuracy": accuracy, "macro_f1": accuracy - 0.04, "eval_loss": 0.8, "trainable_params": params,
                   "total_params": 22_700_000, "train_samples_per_s": speed * rng.uniform(0.95, 1.05) if trains else None,
                   "eval_samples_per_s": 280.0 * rng.uniform(0.9, 1.1),
                   "peak_memory_mb": memory * rng.uniform(0.98, 1.02),
                   "memory_kind": "cpu_peak_rss", "wall_s": wall, "steps": steps, "epochs": 1.0,
                   "stopped_reason": "budget", **(extra or {})}
        store._on_finished(run_id, {"event": "finished", "time": t0 + wall, "summary": summary})
        self.n += 1
        return run_id

    def flush(self) -> None:
        """The gathered steps and validation passes, one INSERT each."""
        con = self.store._con
        if self._steps:
            con.register("busy_steps", pd.concat(self._steps, ignore_index=True))
            con.execute(f"INSERT INTO steps (run_id, step, time, {', '.join(STEP_COLUMNS)}) "
                        f"SELECT run_id, step, time, {', '.join(STEP_COLUMNS)} FROM busy_steps")
            con.unregister("busy_steps")
        if self._evals:
            con.register("busy_evals", pd.DataFrame(self._evals,
                                                    columns=["run_id", "step", "split", "metric", "value", "time"]))
            con.execute("INSERT INTO evals (run_id, step, split, metric, value, time) "
                        "SELECT run_id, step, split, metric, value, time FROM busy_evals")
            con.unregister("busy_evals")
        self._steps, self._evals = [], []


def write_lab(store: Store, rng: random.Random, steps: int = 50, lab: int = 0) -> int:
    """One afternoon's four experiments, in one transaction; returns the runs written. Lab 0 runs the
    methods' default learning rates and the baselines; lab k > 0 its own rate ((k + 1) x 1e-5) and
    its own tuned one, and no baselines (lab 0's stand for it)."""
    lr = None if lab == 0 else (lab + 1) * 1e-5
    tuned_lr = 0.0035 + lab * 1e-5
    base = RunConfig(model="minilm", dataset="tweets-sentiment", max_train=2000, epochs=1, lr=lr)
    # a rate away from the methods' defaults costs a little accuracy
    shift = 0.0 if lr is None else -0.01 * min(3.0, abs(math.log10(lr) + 3.5))
    with store._tx():
        w = _LabWriter(store, rng, steps)
        grid = [base.replace(method=m, seed=s) for m in ("full", "lora", "ia3", "bitfit", "prompt") for s in range(3)]
        exp = grid_exp = new_experiment(grid)
        for c in ([base.replace(method=b, lr=None) for b in BASELINES] if lab == 0 else []) + grid:
            if c.method in BASELINES:
                w.run(c, exp, accuracy=BASELINES[c.method], steps=0)
            else:
                w.run(c, exp, accuracy=_accuracy(c.method, c.max_train, rng, shift), steps=steps)
        small = base.replace(method="lora", max_train=256)
        exp = new_experiment([small], kind="tune")
        for trial in range(12):
            trial_lr = 10 ** rng.uniform(-4.5, -2.5)
            c = small.replace(lr=trial_lr, tag="trial", method_options={"r": rng.choice([4, 8, 16, 32])})
            w.run(c, exp, accuracy=_accuracy("lora", 256, rng, -0.08 * abs(math.log10(trial_lr) + 3.5)),
                  steps=steps // 2)
        for s in range(3):
            tuned = small.replace(lr=tuned_lr, tag="tuned", seed=s, method_options={"r": 16})
            w.run(tuned, exp, accuracy=_accuracy("lora", 256, rng, 0.02), steps=steps)
            w.run(small.replace(seed=s), exp, accuracy=_accuracy("lora", 256, rng, shift), steps=steps)
        curve = [base.replace(method=m, max_train=size, balanced_train=True, seed=s)
                 for m in ("head", "lora") for size in (64, 256, 1000) for s in range(3)]
        exp = new_experiment(curve)
        for c in curve:
            w.run(c, exp, accuracy=_accuracy(c.method, c.max_train, rng, shift), steps=steps)
        parents = [store.runs_records(method=m, experiment_id=grid_exp["id"])[0] for m in ("lora", "full")]
        children = [RunConfig(**{**p["config"], "dataset": "sentiment-products", "init_from": p["id"]})
                    for p in parents]
        exp = new_experiment(children)
        for c in children:
            w.run(c, exp, accuracy=_accuracy(c.method, c.max_train, rng, 0.05 + shift), steps=steps,
                  extra={"forgetting": rng.uniform(0.005, 0.06), "new_task_gain": rng.uniform(0.05, 0.2)})
        w.flush()
    return w.n


def write_busy_db(path: str | Path, runs: int = 0, steps: int = 50, seed: int = 0) -> int:
    """Write labs into the database at `path` until it holds at least `runs` runs (one lab when 0);
    returns the runs written. A database that already holds labs gets the next ones (new settings)."""
    rng = random.Random(seed)
    written = 0
    with Store(path) as store:
        lab = int(store._con.execute("SELECT count(*) FROM experiments WHERE kind = 'tune'").fetchone()[0])
        while written == 0 or written < runs:
            written += write_lab(store, rng, steps, lab)
            lab += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="The database file to write (created if missing).")
    parser.add_argument("--runs", type=int, default=0, help="At least this many runs (whole labs); 0: one lab.")
    parser.add_argument("--steps", type=int, default=50, help="Logged training steps per run.")
    args = parser.parse_args()
    start = time.time()
    n = write_busy_db(args.db, args.runs, args.steps)
    print(f"wrote {n} runs into {args.db} in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
