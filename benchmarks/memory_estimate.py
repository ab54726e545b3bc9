"""Peak memory estimated before a run (ftlab.models.memory) against the peak it measured, for
every kind of run on the embedded models: tiny, MiniLM and SmolLM2; LoRA, full fine-tuning, the
linear probe, IA3, prompt tuning; LoRA on int8 and nf4 bases; zero- and few-shot prompting;
classification and generation.

    python benchmarks/memory_estimate.py            # all cases, one after another, in one process
    python benchmarks/memory_estimate.py --cases 0 8 9

Each case trains 6 steps (64 train, 32 test examples, no checkpoints) and reports the estimate's
parts, the estimated and the measured peak (on a CPU: the process's peak resident memory during
the run, ftlab.metrics.PeakMemory) and their ratio. Target: every ratio within 0.75-1.25.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES = [  # model, dataset, method, quantize, batch size
    ("tiny", "tweets-sentiment", "lora", "none", 16), ("tiny", "tweets-sentiment", "full", "none", 16),
    ("minilm", "tweets-sentiment", "lora", "none", 16), ("minilm", "tweets-sentiment", "full", "none", 16),
    ("minilm", "tweets-sentiment", "head", "none", 16), ("minilm", "tweets-sentiment", "ia3", "none", 32),
    ("minilm", "tweets-sentiment", "prompt", "none", 16), ("minilm", "tweets-sentiment", "lora", "nf4", 16),
    ("smollm2", "tweets-sentiment", "lora", "none", 8), ("smollm2", "tweets-sentiment", "lora", "nf4", 8),
    ("smollm2", "tweets-sentiment", "lora", "int8", 8), ("smollm2", "tweets-sentiment", "full", "none", 8),
    ("smollm2", "tweets-instruct", "lora", "none", 8), ("smollm2", "tweets-instruct", "lora", "nf4", 8),
    ("smollm2", "tweets-sentiment", "zero-shot", "none", 8), ("smollm2", "tweets-sentiment", "few-shot", "none", 8),
    ("smollm2", "tweets-instruct", "zero-shot", "none", 8), ("smollm2", "tweets-instruct", "few-shot", "none", 8),
]
PARTS = ("process_mb", "weights_mb", "gradients_mb", "optimizer_mb", "activations_mb", "evaluation_mb")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, nargs="*", help="case numbers (default: all)")
    args = p.parse_args(argv)
    from ftlab.config import RunConfig
    from ftlab.train import train

    print("| # | model | data | method | batch | " + " | ".join(k[:-3] for k in PARTS)
          + " | estimated MB | measured MB | estimated / measured |")
    print("|---" * (8 + len(PARTS)) + "|")
    ratios = []
    for i, (model, dataset, method, quantize, batch) in enumerate(CASES):
        if args.cases and i not in args.cases:
            continue
        s = train(RunConfig(model=model, dataset=dataset, method=method, quantize=quantize, max_train=64,
                            max_eval=32, batch_size=batch, max_steps=6, checkpoint_every="0"), lambda e: None)
        ratio = s["estimated_peak_mb"] / s["peak_memory_mb"]
        ratios.append(ratio)
        name = method + ("" if quantize == "none" else f", {quantize}")
        print(f"| {i} | {model} | {dataset} | {name} | {batch} | " + " | ".join(f"{s[k]:,.0f}" for k in PARTS)
              + f" | {s['estimated_peak_mb']:,.0f} | {s['peak_memory_mb']:,.0f} | {ratio:.2f} |", flush=True)
        print(json.dumps({"case": i, **{k: v for k, v in s.items() if k.endswith("_mb")}}), file=sys.stderr)
    print(f"\nestimated / measured: {min(ratios):.2f} to {max(ratios):.2f} over {len(ratios)} runs "
          f"({sum(0.75 <= r <= 1.25 for r in ratios)} within 25%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
