"""Does every method train at its defaults? Each method at the quick-compare budget, N seeds.

    # the defaults table (README, "Method defaults"): every method, 3 seeds, classification
    python benchmarks/method_defaults.py --seeds 0 1 2
    # NER on zh-ner, the methods that support it
    python benchmarks/method_defaults.py --task ner --seeds 0 1 2
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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlab import data as datasets  # noqa: E402
from ftlab import methods, service  # noqa: E402
from ftlab.config import RunConfig  # noqa: E402
from ftlab.experiments import load_experiment  # noqa: E402
from ftlab.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUDGET = load_experiment(REPO / "experiments" / "quick-compare.yaml").base
DATASETS = {"classification": "tweets-sentiment", "ner": "zh-ner"}
SCORES = {"classification": ("accuracy", "macro_f1"), "ner": ("entity_f1", "token_accuracy")}
CLEARS_BY = 0.10  # the target: every method at least 10 points above the majority baseline


def majority_scores(task: str, dataset: str) -> dict:
    """The test score of always answering the most frequent training label (all 'O' for NER)."""
    d = datasets.load_dataset(dataset, max_train=BUDGET.get("max_train"), max_eval=BUDGET.get("max_eval"))
    if task == "ner":
        tags = [t for row in d.test for t in row["labels"]]
        return {"entity_f1": 0.0, "token_accuracy": sum(d.label_names[t] == "O" for t in tags) / len(tags)}
    top = Counter(row["label"] for row in d.train).most_common(1)[0][0]
    gold = [row["label"] for row in d.test]
    n_classes = len(d.label_names)
    hits = sum(g == top for g in gold)
    # macro-F1 of a constant answer: F1 of the one class it names, 0 for the others
    precision, recall = hits / len(gold), 1.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"accuracy": hits / len(gold), "macro_f1": f1 / n_classes}


def configs(task: str, names: list[str], lrs: list[float] | None, seeds: list[int]) -> list[RunConfig]:
    out = []
    for name in names:
        for lr in lrs or [None]:
            for seed in seeds:
                out.append(RunConfig(**{**BUDGET, "dataset": DATASETS[task], "task": task, "method": name,
                                        "lr": lr, "seed": seed, "checkpoint_every": "0"}))
    return out


def finished(store: Store) -> dict[str, dict]:
    return {r["config_hash"]: r for r in store.runs_records(status="succeeded")}


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def table(task: str, runs: list[dict], majority: dict) -> list[str]:
    primary, second = SCORES[task]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["method"], RunConfig(**r["config"]).effective_lr), []).append(r)
    lines = [f"| method | lr | seeds | test {primary} | test {second} | vs majority ({primary}) | trainable params |",
             "|---|---|---|---|---|---|---|"]
    for (name, lr), rows in sorted(groups.items(), key=lambda kv: -statistics.mean(r[primary] for r in kv[1])):
        first = [r[primary] for r in rows]
        gap = statistics.mean(first) - majority[primary]
        flag = "" if gap >= CLEARS_BY else " (below target)"
        lines.append(f"| {name} | {lr:g} | {len(rows)} | {mean_std(first)} | {mean_std([r[second] for r in rows])} "
                     f"| {gap * 100:+.1f} points{flag} | {rows[0]['trainable_params']:,} |")
    lines.append(f"| majority class | - | - | {majority[primary]:.3f} | {majority[second]:.3f} | 0 | 0 |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(DATASETS), default="classification")
    p.add_argument("--methods", nargs="+", help="methods to run (default: every method of the task)")
    p.add_argument("--lrs", nargs="+", type=float, help="learning rates to try (default: each method's default)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--db", default=str(REPO / "benchmarks" / "method_defaults.duckdb"))
    p.add_argument("--report-only", action="store_true", help="print the table from the runs already in --db")
    args = p.parse_args(argv)

    names = args.methods or [m.name for m in methods.list_methods() if args.task in m.tasks]
    wanted = configs(args.task, names, args.lrs, args.seeds)
    with Store(args.db) as store:
        done = finished(store)
        todo = [c for c in wanted if c.hash not in done]
        for i, config in enumerate([] if args.report_only else todo, 1):
            t0 = time.perf_counter()
            run_id, summary, error = service.train_now(config, store, db_path=args.db, save=False)
            score = "" if error else f"{summary[SCORES[args.task][0]]:.3f}"
            print(f"[{i}/{len(todo)}] {config.method} lr={config.effective_lr:g} seed={config.seed}: "
                  f"{error or score} ({time.perf_counter() - t0:.0f} s)", flush=True)
        done = finished(store)
    runs = [done[c.hash] for c in wanted if c.hash in done]
    print(f"\n# python benchmarks/method_defaults.py --task {args.task} --seeds {' '.join(map(str, args.seeds))}"
          + (f" --methods {' '.join(args.methods)}" if args.methods else "")
          + (f" --lrs {' '.join(f'{lr:g}' for lr in args.lrs)}" if args.lrs else ""))
    print(f"# {BUDGET.get('model')}, {DATASETS[args.task]}, {BUDGET.get('max_train')} train examples, "
          f"{BUDGET.get('epochs')} epoch, batch {BUDGET.get('batch_size')}; test split of {BUDGET.get('max_eval')}\n")
    print("\n".join(table(args.task, runs, majority_scores(args.task, DATASETS[args.task]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
