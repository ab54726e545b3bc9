"""What one Compare refresh costs as a lab grows: CPU seconds and bytes sent, at 100, 1,000 and
10,000 runs (databases written by busy_db.py through the store).

    python benchmarks/compare_refresh.py                        # 100 and 1,000 runs, 50 steps each
    python benchmarks/compare_refresh.py --runs 100 1000 10000 --steps 500

For each size it times (time.process_time, the CPU this process spends; the best of --repeat)
the Compare tab's refresh handler on two views: the one the tab opens on (the latest experiment)
and every run (the picker emptied), and sizes what the handler returns as the page would receive
it (the figures' and table's JSON). Targets: under 0.5 s of CPU at 1,000 runs and under 3 s at
10,000, growing about linearly; under 2 MB sent at 10,000. The ratio column is each size's CPU
time over the smallest size's, against the ratio of their run counts; "settings" counts the
distinct settings (seeds aggregated) the every-run view compares, which grow with the runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from busy_db import write_busy_db  # noqa: E402


def _payload(out: dict) -> int:
    """Bytes of a handler's return value as gradio would send it (figures and frames as JSON)."""
    import plotly.io as pio

    total = 0
    for value in out.values():
        value = value.get("value", value) if isinstance(value, dict) else value
        if hasattr(value, "to_plotly_json"):
            total += len(pio.to_json(value))
        elif hasattr(value, "to_json"):
            total += len(value.to_json(orient="split"))
        else:
            total += len(json.dumps(value, default=str))
    return total


def measure(db: str, repeat: int) -> dict:
    import gradio as gr

    from ftlab.service import Lab
    from ftlab.ui import compare

    with Lab(db, start_scheduler=False) as lab, gr.Blocks():
        ui = compare.build(lab)
        out = {}
        for view, chosen in (("latest", ["latest"]), ("all", [])):
            best, sent = float("inf"), 0
            for _ in range(repeat):
                start = time.process_time()
                result = ui.refresh(chosen, None, None, None, ["succeeded"])
                best = min(best, time.process_time() - start)
                sent = _payload({k: v for k, v in result.items()})
            out[view] = (best, sent)
        from ftlab import charts
        from ftlab.ui.logic import compare as compare_logic

        runs = lab.runs_df()
        out["runs"] = len(runs)
        succeeded = compare_logic.filter_runs(runs, statuses=["succeeded"])
        out["settings"] = len(charts.aggregate_seeds(charts.prepared(succeeded)))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000], help="Database sizes (runs).")
    parser.add_argument("--steps", type=int, default=50, help="Logged training steps per run.")
    parser.add_argument("--repeat", type=int, default=3, help="Refreshes per view; the best CPU time is kept.")
    parser.add_argument("--workdir", default=None, help="Where the databases go (kept: reused on the next run).")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="ftlab-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.runs:
        db = work / f"runs-{n}-steps-{args.steps}.duckdb"
        if not db.exists():
            start = time.time()
            written = write_busy_db(db, n, args.steps)
            print(f"wrote {written} runs into {db} in {time.time() - start:.0f} s", flush=True)
        rows.append(measure(str(db), args.repeat))
    first = rows[0]
    print(f"\n{'runs':>7} | {'settings':>8} | {'latest: CPU s':>13} | {'sent':>8} | {'every run: CPU s':>16} | "
          f"{'sent':>8} | {'CPU ratio':>9} | {'runs ratio':>10}")
    for r in rows:
        print(f"{r['runs']:>7,} | {r['settings']:>8,} | {r['latest'][0]:>13.3f} | {r['latest'][1] / 1e6:>6.2f}MB | "
              f"{r['all'][0]:>16.3f} | {r['all'][1] / 1e6:>6.2f}MB | {r['all'][0] / first['all'][0]:>9.1f} | "
              f"{r['runs'] / first['runs']:>10.1f}")


if __name__ == "__main__":
    main()
