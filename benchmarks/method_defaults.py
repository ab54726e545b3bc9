"""Does every method train at its defaults? Each method at the quick-compare budget, N seeds.

    # the defaults table (README, "Method defaults"): every method, 3 seeds, classification
    python benchmarks/method_defaults.py --seeds 0 1 2
    # NER on wnut16-ner (English tweets, which MiniLM reads), the methods that support it
    python benchmarks/method_defaults.py --task ner --seeds 0 1 2
    # Chinese NER needs a model that reads Chinese (MiniLM sees most characters as [UNK])
    python benchmarks/method_defaults.py --task ner --dataset zh-ner --model e5-small --seeds 0
    # a learning-rate sweep for some methods, one seed (how the defaults were chosen)
    python benchmarks/method_defaults.py --methods loha lokr --lrs 1e-3 3e-3 1e-2 3e-2 --seeds 0

The budget is experiments/quick-compare.yaml's (MiniLM, 2,000 training examples, 1,000
validation and test examples, one epoch, batch 16). Runs go through `service.train_now` into a
DuckDB file (default benchmarks/method_defaults.duckdb); a run already finished there with the
same config is not trained again, so an interrupted table picks up where it stopped. Prints one
row per (method, lr): test score mean +- std over the seeds, the majority-class baseline, the gap
to it in points, and the trainable parameters.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlab import methods, service  # noqa: E402
from ftlab.config import RunConfig  # noqa: E402
from ftlab.experiments import load_experiment  # noqa: E402
from ftlab.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUDGET = load_experiment(REPO / "experiments" / "quick-compare.yaml").base
DATASETS = {"classification": "tweets-sentiment", "ner": "wnut16-ner"}
SCORES = {"classification": ("accuracy", "macro_f1"), "ner": ("entity_f1", "token_accuracy")}
CLEARS_BY = 0.10  # the target: every method at least 10 points above the majority baseline


def configs(task: str, names: list[str], lrs: list[float] | None, seeds: list[int], dataset: str | None = None,
            model: str | None = None, epochs: float | None = None) -> list[RunConfig]:
    out = []
    for name in names:
        method = methods.get_method(name)
        # the default written out: a default run and a sweep run at that rate are one config (one hash)
        for lr in lrs or [method.default_lr if method.trains else None]:
            for seed in seeds if method.trains else seeds[:1]:  # a baseline is the same on every seed
                out.append(RunConfig(**{**BUDGET, "dataset": dataset or DATASETS[task], "task": task, "method": name,
                                        "model": model or BUDGET["model"], "epochs": epochs or BUDGET["epochs"],
                                        "lr": lr, "seed": seed,
                                        "checkpoint_every": "0"}))
    return out


def finished(store: Store) -> dict[str, dict]:
    return {r["config_hash"]: r for r in store.runs_records(status="succeeded")}


def train_missing(wanted: list[RunConfig], db: str, report_only: bool = False) -> list[dict]:
    """Train the configs of `wanted` that `db` has not finished yet, a line each as they end; return
    the finished runs of `wanted`, in its order."""
    with Store(db) as store:
        done = finished(store)
        todo = [c for c in wanted if c.hash not in done]
        for i, config in enumerate([] if report_only else todo, 1):
            t0 = time.perf_counter()
            _, summary, error = service.train_now(config, store, db_path=db, save=False)
            score = "" if error else f"{summary[SCORES[config.task][0]]:.3f}"
            print(f"[{i}/{len(todo)}] {config.model} {config.dataset} {config.method} lr={config.effective_lr:g} "
                  f"seed={config.seed}: {error or score} ({time.perf_counter() - t0:.0f} s)", flush=True)
        done = finished(store)
    return [done[c.hash] for c in wanted if c.hash in done]


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def table(task: str, runs: list[dict]) -> list[str]:
    """One row per (method, lr), best first; the baselines (majority class, zero-shot) are runs too."""
    primary, second = SCORES[task]
    majority = next((r for r in runs if r["method"] == "majority"), None)
    if majority is None:
        return ["(no majority-class run yet: it is the row every method is measured against)"]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        lr = RunConfig(**r["config"]).effective_lr if methods.get_method(r["method"]).trains else None
        groups.setdefault((r["method"], lr), []).append(r)
    lines = [f"| method | lr | seeds | test {primary} | test {second} | vs majority ({primary}) | trainable params |",
             "|---|---|---|---|---|---|---|"]
    for (name, lr), rows in sorted(groups.items(), key=lambda kv: -statistics.mean(r[primary] for r in kv[1])):
        first = [r[primary] for r in rows]
        gap = statistics.mean(first) - majority[primary]
        flag = "" if gap >= CLEARS_BY else " (below target)"
        flag = flag if lr is not None else " (baseline)"
        lines.append(f"| {name} | {'-' if lr is None else f'{lr:g}'} | {len(rows)} | {mean_std(first)} "
                     f"| {mean_std([r[second] for r in rows])} | {gap * 100:+.1f} points{flag} "
                     f"| {rows[0]['trainable_params']:,} |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(DATASETS), default="classification")
    p.add_argument("--dataset", help="dataset (default: tweets-sentiment; wnut16-ner for --task ner)")
    p.add_argument("--model", help=f"base model (default: {BUDGET['model']})")
    p.add_argument("--epochs", type=float, help=f"epochs (default: {BUDGET['epochs']}, the quick-compare budget)")
    p.add_argument("--methods", nargs="+", help="methods to run (default: every method of the task)")
    p.add_argument("--lrs", nargs="+", type=float, help="learning rates to try (default: each method's default)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--db", default=str(REPO / "benchmarks" / "method_defaults.duckdb"))
    p.add_argument("--report-only", action="store_true", help="print the table from the runs already in --db")
    args = p.parse_args(argv)

    names = args.methods or [m.name for m in methods.list_methods() if args.task in m.tasks]
    wanted = configs(args.task, names, args.lrs, args.seeds, args.dataset, args.model, args.epochs)
    # the majority-class run (seed-free, one run) is the row every method is measured against
    wanted += [c for c in configs(args.task, ["majority"], None, [0], args.dataset, args.model, args.epochs)
               if c.hash not in {w.hash for w in wanted}]
    runs = train_missing(wanted, args.db, args.report_only)
    print(f"\n# python benchmarks/method_defaults.py --task {args.task} --seeds {' '.join(map(str, args.seeds))}"
          + (f" --epochs {args.epochs:g}" if args.epochs else "")
          + (f" --dataset {args.dataset}" if args.dataset else "") + (f" --model {args.model}" if args.model else "")
          + (f" --methods {' '.join(args.methods)}" if args.methods else "")
          + (f" --lrs {' '.join(f'{lr:g}' for lr in args.lrs)}" if args.lrs else ""))
    print(f"# {args.model or BUDGET.get('model')}, {args.dataset or DATASETS[args.task]}, {BUDGET.get('max_train')} train examples, "
          f"{args.epochs or BUDGET.get('epochs')} epoch(s), batch {BUDGET.get('batch_size')}; test split of {BUDGET.get('max_eval')}\n")
    print("\n".join(table(args.task, runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
