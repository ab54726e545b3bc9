"""The README's table of prompting against fine-tuning a decoder, from a database that ran
experiments/generative-compare.yaml (or any generative grid).

    python -m ftlab run experiments/generative-compare.yaml --db gen.duckdb --no-baselines
    python benchmarks/generative_table.py --db gen.duckdb

One row per method (mean over its seeds, with the lowest and highest seed): exact match on the
test split, token F1, trainable parameters, train tokens/s, peak memory, forgetting (cross-entropy
gained on general text, nats per token), wall time; then each fine-tuning method against
zero-shot prompting with Welch's 95% interval (ftlab.stats).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlab import stats  # noqa: E402
from ftlab.service import Lab  # noqa: E402

ORDER = ("zero-shot", "few-shot", "full", "lora", "ia3", "prompt")


def spread(values: list, fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1 or max(values) == min(values):
        return fmt.format(mean)
    return f"{fmt.format(mean)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--experiment", default=None, help="an experiment's name (default: every generative run)")
    args = p.parse_args(argv)
    with Lab(args.db) as lab:
        runs = [r for r in lab.runs(status="succeeded") if r.get("task") == "sft"
                and (args.experiment is None or r.get("experiment") == args.experiment)]
    if not runs:
        print("no succeeded generative runs in", args.db, file=sys.stderr)
        return 1
    by_method: dict[str, list] = {}
    for r in runs:
        by_method.setdefault(r["method"], []).append(r)
    methods = sorted(by_method, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))
    first = runs[0]
    print(f"{first['model']}, {first['dataset']}: {first['config'].get('max_train')} training examples, "
          f"{(first.get('dataset_sizes') or {}).get('test')} test examples, seeds "
          f"{sorted({r['seed'] for r in runs})}")
    print("\n| method | seeds | exact match | token F1 | trainable params | train tokens/s | peak memory (MB) "
          "| forgetting (nats/token) | wall (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in methods:
        rs = by_method[m]
        print(f"| {m} | {len(rs)} | {spread([100 * r['accuracy'] for r in rs], '{:.1f}%')} | "
              f"{spread([r.get('token_f1') for r in rs], '{:.3f}')} | {rs[0]['trainable_params']:,} | "
              f"{spread([r.get('train_tokens_per_s') for r in rs], '{:,.0f}')} | "
              f"{spread([r.get('peak_memory_mb') for r in rs], '{:,.0f}')} | "
              f"{spread([r.get('forgetting_ce') for r in rs], '{:+.3f}')} | {spread([r.get('wall_s') for r in rs], '{:,.0f}')} |")
    base = by_method.get("zero-shot")
    if base and len(base) >= 2:
        print()
        for m in methods:
            if m in ("zero-shot",) or len(by_method[m]) < 2:
                continue
            d = stats.difference([r["accuracy"] for r in by_method[m]], [r["accuracy"] for r in base])
            print("- " + stats.verdict_text(m, "zero-shot", d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
