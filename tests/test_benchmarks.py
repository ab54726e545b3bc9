"""Smoke tests of the benchmarks: throughput.py's peers run the same tiny job end to end,
first_step.py drives the queue with cold and spare workers, and queue_load.py reports every figure.

No timing is asserted (CPU timings on shared machines mean nothing at this size); the test checks
that every peer reports every field with a finite value, that all three trained the same job
(same parameters, data and steps) and that they reach similar accuracy on a keyword task the tiny
model learns in a few epochs. The peers run in one process (--in-process) to pay the imports once.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
FIELDS = ("wall_s", "train_s", "other_s", "cpu_s", "train_samples_per_s", "steady_samples_per_s",
          "train_tokens_per_s", "pad_fraction", "peak_memory_mb", "accuracy")
SAME = ("model", "dataset", "method", "epochs", "batch_size", "lr", "max_length", "seed", "n_train", "n_test", "steps",
        "trainable_params")


def test_peers_run_the_same_job(keyword_csv, tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--model", "tiny", "--dataset", keyword_csv,
           "--methods", "full", "--max-train", "320", "--max-eval", "40", "--epochs", "4", "--batch-size", "16",
           "--lr", "3e-3", "--max-length", "32", "--device", "cpu", "--threads", "1", "--in-process",
           "--peers", "classic", "hf-trainer", "ftlab", "--workdir", str(tmp_path),
           "--json-out", str(tmp_path / "r.json")]
    # (ftlab-compile is ftlab with compile=True: tests/test_engine.py runs that compiled path)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["peer"] for r in lines] == ["classic", "hf-trainer", "ftlab"]
    for r in lines:
        for key in FIELDS:
            assert isinstance(r[key], (int, float)) and math.isfinite(r[key]), (r["peer"], key, r[key])
        assert r["wall_s"] >= r["train_s"] > 0 and r["train_samples_per_s"] > 0 and r["peak_memory_mb"] > 0
        assert 0 <= r["pad_fraction"] < 1 and 0 <= r["accuracy"] <= 1
        assert r["approx_mfu"] is None  # only on a GPU
    for key in SAME:
        assert len({json.dumps(r[key]) for r in lines}) == 1, (key, [r[key] for r in lines])
    assert lines[0]["steps"] == 80  # ceil(320 / 16) x 4 epochs, in every peer
    # Every input padded to max_length by the classic peer; the others pad per batch.
    assert lines[0]["pad_fraction"] > max(lines[1]["pad_fraction"], lines[2]["pad_fraction"])
    accuracies = [r["accuracy"] for r in lines]
    assert min(accuracies) > 0.6, accuracies  # 3 balanced classes: chance is ~0.33
    assert max(accuracies) - min(accuracies) <= 0.25, accuracies
    assert "| full | classic |" in done.stdout and "| full | hf-trainer |" in done.stdout
    saved = json.loads((tmp_path / "r.json").read_text())
    assert len(saved["runs"]) == 3 and len(saved["ratios"]) == 2


def test_first_step_benchmark_runs_both_modes(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "first_step.py"), "--dry-run", "--idle-s", "3",
           "--methods", "lora", "--workdir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert sorted((r["mode"], r["method"]) for r in lines) == [("cold", "lora"), ("spare", "lora")]
    for r in lines:
        assert 0 < r["engine_time_to_first_step_s"] <= r["job_start_to_first_step_s"] < r["wall_s"] + 30
    assert "cold/spare" in done.stdout


def test_queue_load_benchmark_reports_every_figure(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "queue_load.py"), "--dry-run", "--workdir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert r["jobs"] == r["remote_jobs"] == 40 and r["runs"] == 60 and r["live_jobs"] == 2
    for key in ("ticks_per_s", "submit_to_start_median_s", "submit_to_start_p95_s", "queue_refresh_owner_s",
                "queue_refresh_remote_s", "compare_refresh_s", "snapshot_write_s", "snapshot_bytes_per_s"):
        assert isinstance(r[key], (int, float)) and r[key] >= 0, (key, r[key])
    assert set(r["snapshot_files_bytes"]) == {"state.json", "history.json"}
    assert "`python benchmarks/queue_load.py --dry-run" in done.stdout
    assert "| snapshot bytes written per second |" in done.stdout
