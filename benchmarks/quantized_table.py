"""The README's table of what a quantized base saves and costs, from a database that ran
experiments/quantized-smollm2.yaml (or any grid with quantized settings).

    python -m ftlab run experiments/quantized-smollm2.yaml --db quant.duckdb
    python benchmarks/quantized_table.py --db quant.duckdb

One block per model, dataset and training-set size, one row per setting (method and base quantization; mean over its seeds,
with the lowest and highest seed): the test score (accuracy, or exact match for the generative
task), trainable parameters, peak memory as estimated before the run and as measured, their
ratio (with two of the estimate's parts: what the process held before its model, and the
weights), train samples/s and wall time; the prompting baselines of the same data are rows too.
Then each quantized setting against the same method on the full-precision base, with Welch's
95% interval (ftlab.stats).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlab import stats  # noqa: E402
from ftlab.service import Lab  # noqa: E402

from generative_table import spread  # noqa: E402 - the mean with the lowest and highest seed, as there

QUANT_ORDER = ("none", "int8", "nf4")


def setting(run: dict) -> str:
    quantize = run["config"].get("quantize") or "none"
    return run["method"] + ("" if quantize == "none" else f", {quantize}")


def part(run: dict, key: str):
    """One part of the run's recorded estimate (ftlab.models.memory), kept in its summary."""
    return (run.get("summary") or {}).get(key)


def order(name: str, runs: list) -> tuple:
    first = runs[0]
    quantize = first["config"].get("quantize") or "none"
    trained = first.get("trainable_params") or 0
    return (trained > 0, first["method"] == "full", first["method"], QUANT_ORDER.index(quantize))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    args = p.parse_args(argv)
    with Lab(args.db) as lab:
        runs = lab.runs(status="succeeded")
    if not runs:
        print("no succeeded runs in", args.db, file=sys.stderr)
        return 1
    blocks: dict[tuple, dict[str, list]] = {}
    for r in runs:
        r["config"] = r.get("config") or {}
        key = (r["model"], r["dataset"], r["config"].get("max_train"))
        blocks.setdefault(key, {}).setdefault(setting(r), []).append(r)
    for (model, dataset, max_train), settings in blocks.items():
        first = next(iter(settings.values()))[0]
        score = "exact match" if first.get("task") == "sft" else "accuracy"
        print(f"\n{model}, {dataset} ({first.get('task')}): {max_train} training "
              f"examples, {(first.get('dataset_sizes') or {}).get('test')} test examples, batch "
              f"{first['config'].get('batch_size')}, seeds {sorted({r['seed'] for s in settings.values() for r in s})}")
        print(f"\n| setting | seeds | {score} | trainable params | process MB | weights MB | peak MB estimated "
              "| peak MB measured | estimated / measured | train samples/s | wall (s) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in sorted(settings, key=lambda n: order(n, settings[n])):
            rs = settings[name]
            ratios = [r["estimated_peak_mb"] / r["peak_memory_mb"] for r in rs
                      if r.get("estimated_peak_mb") and r.get("peak_memory_mb")]
            print(f"| {name} | {len({r['seed'] for r in rs})} | {spread([100 * r['accuracy'] for r in rs], '{:.1f}%')} | "
                  f"{rs[0].get('trainable_params') or 0:,} | {spread([part(r, 'process_mb') for r in rs], '{:,.0f}')} | "
                  f"{spread([part(r, 'weights_mb') for r in rs], '{:,.0f}')} | "
                  f"{spread([r.get('estimated_peak_mb') for r in rs], '{:,.0f}')} | "
                  f"{spread([r.get('peak_memory_mb') for r in rs], '{:,.0f}')} | {spread(ratios, '{:.2f}')} | "
                  f"{spread([r.get('train_samples_per_s') for r in rs], '{:.1f}')} | "
                  f"{spread([r.get('wall_s') for r in rs], '{:,.0f}')} |")
        print()
        for name, rs in settings.items():
            method = rs[0]["method"]
            if name == method or method not in settings or len(rs) < 2 or len(settings[method]) < 2:
                continue
            d = stats.difference([r["accuracy"] for r in rs], [r["accuracy"] for r in settings[method]])
            print("- " + stats.verdict_text(name, method, d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
