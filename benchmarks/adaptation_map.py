"""The adaptation map on 2 CPU cores: prompting beside fine-tuning, learning curves, forgetting.

    # everything (the README's "Prompting, learning curves, forgetting" tables)
    python benchmarks/adaptation_map.py
    # one part
    python benchmarks/adaptation_map.py --parts prompting
    python benchmarks/adaptation_map.py --parts curve --sizes 16 64 256 1024 4096 --seeds 0 1
    python benchmarks/adaptation_map.py --parts continual

- prompting: zero-shot and 4-shot prompting of smollm2 on sentiment-movies beside full, lora and
  head fine-tuning of minilm (2,000 train examples, one epoch) on the same test split;
- curve: full, lora and head on tweets-sentiment at each training-set size (balanced per class),
  with the zero-shot baseline;
- continual: full and lora trained on sentiment-movies, then continued on sentiment-products;
  each continuation's forgetting (movies' test score lost) and gain (products' score won).

Runs go through `service.train_now` into a DuckDB file (default benchmarks/adaptation_map.duckdb,
weights beside it, which continual runs need); runs already there are not trained again.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlab import service  # noqa: E402
from ftlab.config import RunConfig  # noqa: E402
from ftlab.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EVAL = 500  # validation and test examples each: the prompting runs read every one through a 135M decoder
TRAIN = dict(max_train=2000, max_eval=EVAL, epochs=1, batch_size=16, checkpoint_every="0")


def run(store: Store, db: str, config: RunConfig, done: dict) -> dict | None:
    if config.hash in done:
        return done[config.hash]
    t0 = time.perf_counter()
    run_id, summary, error = service.train_now(config, store, db_path=db)
    print(f"  run {run_id}: {config.model} {config.dataset} {config.method} max_train={config.max_train} "
          f"seed={config.seed}{' init_from=' + str(config.init_from) if config.init_from else ''}: "
          f"{error or round(summary.get('accuracy', 0), 3)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if error:
        return None
    done[config.hash] = {**summary, "id": run_id}
    return done[config.hash]


def finished(store: Store) -> dict:
    return {r["config_hash"]: {**(r.get("summary") or {}), "id": r["id"]}
            for r in store.runs_records(status="succeeded")}


def mean(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{statistics.mean(values):.3f}" + (f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else "")


def prompting(store, db, done, seeds) -> list[str]:
    rows = ["| model | method | trainable params | test accuracy | test macro-F1 | eval samples/s |",
            "|---|---|---|---|---|---|"]
    for model, method in [("smollm2", "zero-shot"), ("smollm2", "few-shot"), ("minilm", "zero-shot"),
                          ("minilm", "majority"), ("minilm", "head"), ("minilm", "lora"), ("minilm", "full")]:
        trains = method in ("head", "lora", "full")
        results = [run(store, db, RunConfig(model=model, dataset="sentiment-movies", method=method, seed=seed,
                                            **TRAIN), done) for seed in (seeds if trains else seeds[:1])]
        results = [r for r in results if r]
        if results:
            name = method + (" (4 examples a class)" if method == "few-shot" else "")
            rows.append(f"| {model} | {name} | {results[0]['trainable_params']:,} "
                        f"| {mean(r['accuracy'] for r in results)} | {mean(r['macro_f1'] for r in results)} "
                        f"| {mean(r['eval_samples_per_s'] for r in results)} |")
    return rows


def curve(store, db, done, seeds, sizes) -> list[str]:
    methods = ["full", "lora", "head"]
    rows = ["| training examples | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    run(store, db, RunConfig(model="minilm", dataset="tweets-sentiment", method="zero-shot", **TRAIN), done)
    for size in sizes:
        cells = []
        for method in methods:
            results = [run(store, db, RunConfig(model="minilm", dataset="tweets-sentiment", method=method, seed=seed,
                                                **{**TRAIN, "max_train": size, "balanced_train": size is not None}),
                           done) for seed in seeds]
            cells.append(mean(r["accuracy"] for r in results if r))
        rows.append(f"| {size or 'all'} | " + " | ".join(cells) + " |")
    return rows


def continual(store, db, done, seeds) -> list[str]:
    rows = ["| method | movies before → after | forgetting (points) | products before → after | gain (points) |",
            "|---|---|---|---|---|"]
    for method in ["full", "lora"]:
        children = []
        for seed in seeds:
            parent = run(store, db, RunConfig(model="minilm", dataset="sentiment-movies", method=method, seed=seed,
                                              **TRAIN), done)
            if parent:
                child = run(store, db, RunConfig(model="minilm", dataset="sentiment-products", method=method,
                                                 seed=seed, init_from=parent["id"], **TRAIN), done)
                children += [child] if child else []
        if children:
            rows.append(f"| {method} | {mean(c['old_task_before'] for c in children)} → "
                        f"{mean(c['old_task_after'] for c in children)} "
                        f"| {mean(c['forgetting'] * 100 for c in children)} "
                        f"| {mean(c['new_task_before'] for c in children)} → {mean(c['accuracy'] for c in children)} "
                        f"| {mean(c['new_task_gain'] * 100 for c in children)} |")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", choices=["prompting", "curve", "continual"],
                   default=["prompting", "curve", "continual"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--sizes", nargs="+", default=["16", "64", "256", "1024", "4096"],
                   help="learning-curve sizes; 'all' for the whole train split")
    p.add_argument("--db", default=str(REPO / "benchmarks" / "adaptation_map.duckdb"))
    args = p.parse_args(argv)
    sizes = [None if s == "all" else int(s) for s in args.sizes]
    out = []
    with Store(args.db) as store:
        done = finished(store)
        for part in args.parts:
            print(f"# {part}", flush=True)
            if part == "prompting":
                table = prompting(store, args.db, done, args.seeds)
            elif part == "curve":
                table = curve(store, args.db, done, args.seeds, sizes)
            else:
                table = continual(store, args.db, done, args.seeds)
            out += [f"\n## {part} (python benchmarks/adaptation_map.py --parts {part} --seeds "
                    f"{' '.join(map(str, args.seeds))})\n"] + table
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
