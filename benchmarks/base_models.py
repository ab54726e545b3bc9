"""Which base model for which data? full, lora and head on each built-in model and dataset pair.

    # the README's "Base models" table: 2,000 train examples, one epoch, 2 seeds
    python benchmarks/base_models.py
    # some rows only, one seed
    python benchmarks/base_models.py --rows zh-ner:e5-small zh-ner:minilm --seeds 0

Every cell is a test score (accuracy; entity F1 for NER) averaged over the seeds, at
experiments/quick-compare.yaml's budget apart from the model and dataset (2,000 train
examples, 1,000 validation and test examples, one epoch, batch 16) and each method's default
learning rate. Runs go through `service.train_now` into a DuckDB file (default
benchmarks/base_models.duckdb); a run already there is not trained again, so an interrupted
table picks up where it stopped, and the rows run in the order given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from method_defaults import BUDGET, train_missing  # noqa: E402

from ftlab import data  # noqa: E402
from ftlab.config import RunConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ROWS = ["zh-reviews:minilm", "zh-reviews:e5-small", "zh-ner:minilm", "zh-ner:e5-small",
        "tweets-sentiment:minilm", "tweets-sentiment:smollm2", "wnut16-ner:minilm", "bbc-news:minilm"]
METHODS = ["full", "lora", "head"]
SCORE = {"classification": "accuracy", "ner": "entity_f1"}  # the table's cell; method_defaults prints the same


def configs(rows: list[str], methods: list[str], seeds: list[int]) -> list[RunConfig]:
    out = []
    for row in rows:
        dataset, model = row.split(":")
        for method in methods + ["majority"]:
            for seed in seeds if method != "majority" else seeds[:1]:
                out.append(RunConfig(**{**BUDGET, "model": model, "dataset": dataset, "method": method, "seed": seed,
                                        "checkpoint_every": "0"}))
    return out


def cell(runs: list[dict], score: str) -> str:
    values = [r[score] for r in runs]
    if not values:
        return "-"
    text = f"{statistics.mean(values):.3f}"
    return text + (f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else "")


def table(rows: list[str], methods: list[str], runs: list[dict]) -> list[str]:
    lines = ["| dataset | model | " + " | ".join(methods) + " | majority class | seeds | minutes a run (full) |",
             "|---|---|" + "---|" * (len(methods) + 3)]
    for row in rows:
        dataset, model = row.split(":")
        mine = [r for r in runs if r["dataset"] == dataset and r["model"] == model]
        score = SCORE[data.infer_task(dataset)]
        cells = [cell([r for r in mine if r["method"] == m], score) for m in methods]
        full = [r["wall_s"] for r in mine if r["method"] == "full" and r.get("wall_s")]
        minutes = f"{statistics.mean(full) / 60:.1f}" if full else "-"
        name = dataset + (" (entity F1)" if score == "entity_f1" else "")
        counts = sorted({sum(1 for r in mine if r["method"] == m) for m in methods} - {0})
        seeds = "-".join(map(str, dict.fromkeys([counts[0], counts[-1]]))) if counts else "-"
        lines.append(f"| {name} | {model} | " + " | ".join(cells) + f" | {cell([r for r in mine if r['method'] == 'majority'], score)} | {seeds} "
                     f"| {minutes} |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", nargs="+", default=ROWS, help="dataset:model pairs, in the order to run them")
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--db", default=str(REPO / "benchmarks" / "base_models.duckdb"))
    p.add_argument("--report-only", action="store_true", help="print the table from the runs already in --db")
    args = p.parse_args(argv)

    runs = train_missing(configs(args.rows, args.methods, args.seeds), args.db, args.report_only)
    print(f"\n# python benchmarks/base_models.py --seeds {' '.join(map(str, args.seeds))}"
          + (f" --rows {' '.join(args.rows)}" if args.rows != ROWS else ""))
    print(f"# {BUDGET.get('max_train')} train examples, {BUDGET.get('epochs')} epoch, batch {BUDGET.get('batch_size')}, "
          f"test split of {BUDGET.get('max_eval')}; mean ± std over the seeds\n")
    print("\n".join(table(args.rows, args.methods, runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
