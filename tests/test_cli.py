"""The command line as a user meets it: one-line errors, runs recorded in DuckDB, listings."""

import json
import subprocess
import sys

import pytest

from bad_inputs import BAD_INPUTS, bad_files

from ftlab.cli import main
from ftlab.store import Store

TINY = ["--model", "tiny", "--max-train", "64", "--max-eval", "32", "--batch-size", "16", "--quiet"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, needle):
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: ") and needle in lines[-1], err
    assert "Traceback" not in err


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "runs.duckdb")


@pytest.mark.parametrize("extra, needle", BAD_INPUTS)
def test_bad_input_is_one_line_and_nothing_succeeds(extra, needle, tmp_path, db, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    d = bad_files(tmp_path)
    args = ["train", *TINY, "--max-steps", "2", "--db", db] + [a.format(d=d) for a in extra]
    code, out, err = run_cli(args, capsys)
    assert_one_line_error(code, err, needle)
    if (tmp_path / "runs.duckdb").exists():
        with Store(db) as store:
            assert all(r["status"] != "succeeded" for r in store.runs_records())


def test_train_then_runs_json(db, keyword_csv, capsys):
    code, out, err = run_cli(["train", *TINY, "--dataset", keyword_csv, "--method", "lora", "--max-steps", "6",
                              "--opt", "r=4", "--db", db], capsys)
    assert code == 0, err
    assert "run 1 succeeded" in out
    code, out, _ = run_cli(["runs", "--db", db, "--json"], capsys)
    [run] = json.loads(out)
    required = {"id", "status", "model", "dataset", "method", "accuracy", "macro_f1", "entity_f1", "trainable_params",
                "total_params", "train_samples_per_s", "train_tokens_per_s", "eval_samples_per_s", "peak_memory_mb",
                "wall_s", "error"}
    assert required <= set(run)
    assert run["status"] == "succeeded" and run["method"] == "lora" and run["config"]["method_options"]["r"] == 4
    assert run["trainable_params"] == 2 * 2 * 4 * 128 + 64 * 3 + 3  # r=4 on query, value of tiny BERT + head
    with Store(db) as store:
        assert len(store.steps_df(1)) == 6
        evals = store.evals_df(1)
        # 64 examples / 16 = 4 steps an epoch: validation at each epoch end and the last step, then test
        assert set(zip(evals["split"], evals["step"])) == {("validation", 4), ("validation", 6), ("test", 6)}


def test_interrupted_run_is_recorded_with_reason_and_metrics(tmp_path, keyword_csv, interruptible):
    """A run stopped mid-way (Ctrl-C) is stored as failed, with its reason and the metrics it reached."""
    import signal
    import time

    db = str(tmp_path / "int.duckdb")
    proc = subprocess.Popen([sys.executable, "-m", "ftlab", "train", "--model", "tiny", "--dataset", keyword_csv,
                             "--method", "lora", "--epochs", "20", "--batch-size", "8", "--db", db],
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    seen = ""
    while "loss=" not in seen:  # the progress bar shows a loss once a step has been recorded
        chunk = proc.stderr.read(200)
        assert chunk, "the run ended before training"
        seen += chunk
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode != 0 and "Traceback" not in rest
    with Store(db) as store:
        [run] = store.runs_records()
        steps = store.steps_df(run["id"])
    assert run["status"] == "failed" and "interrupted" in run["error"]
    assert run["trainable_params"] > 0 and len(steps) > 0


def test_run_grid_and_listings(db, tmp_path, keyword_csv, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"# python -m ftlab run {grid}\nname: g\nbase: {{model: tiny, dataset: {keyword_csv}, max_train: 64,"
                    f" max_eval: 32, max_steps: 3, batch_size: 16}}\ngrid: {{method: [head, ia3], seed: [0, 1]}}\n")
    code, out, err = run_cli(["run", str(grid), "--db", db, "--quiet"], capsys)
    assert code == 0, err
    assert "6 of 6 runs succeeded" in out  # the grid's 4 and its two baselines, run once for all 4
    code, out, _ = run_cli(["runs", "--db", db, "--json"], capsys)
    runs = json.loads(out)
    assert sorted(r["method"] for r in runs) == ["head", "head", "ia3", "ia3", "majority", "zero-shot"]
    baseline = next(r for r in runs if r["method"] == "majority")
    assert baseline["trainable_params"] == 0 and baseline["config"]["max_train"] == 64
    code, out, err = run_cli(["run", str(grid), "--db", db, "--quiet"], capsys)
    assert "4 of 4 runs succeeded" in out  # the baselines are in the database already
    code, out, err = run_cli(["run", str(grid), "--db", db, "--quiet", "--no-baselines"], capsys)
    assert "4 of 4 runs succeeded" in out
    for what, expected in (("methods", "lora"), ("datasets", "zh-ner"), ("models", "minilm")):
        code, out, _ = run_cli([what, "--json"], capsys)
        names = [row["name"] for row in json.loads(out)]
        assert expected in names and code == 0
    code, out, _ = run_cli(["methods"], capsys)
    assert "--opt r=8" in out and "Rank of the low-rank update" in out


def test_real_process_exit_code_and_no_traceback(tmp_path):
    """The real entry point, as a user runs it: non-zero status and a single line on stderr."""
    proc = subprocess.run([sys.executable, "-m", "ftlab", "train", "--method", "lorra", "--db", str(tmp_path / "x.duckdb")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown method 'lorra'" in proc.stderr


def test_card_shows_unk_rate(capsys):
    code, out, _ = run_cli(["card", "zh-reviews", "--model", "minilm"], capsys)
    card = json.loads(out)
    assert code == 0 and card["task"] == "classification" and card["unk_rate"] > 0.2


def test_submit_validates_everything_before_queueing(db, capsys):
    code, out, err = run_cli(["submit", "--model", "tiny", "--method", "lora", "prompt", "--dataset", "zh-ner",
                              "--db", db], capsys)
    assert_one_line_error(code, err, "does not support task 'ner'")
    code, out, _ = run_cli(["jobs", "--db", db, "--json"], capsys)
    assert json.loads(out) == []  # lora was valid, but nothing was queued
    code, out, _ = run_cli(["submit", "--model", "tiny", "--method", "lora", "head", "--seeds", "2", "--db", db], capsys)
    assert code == 0 and "queued 6 job(s)" in out  # and the two baselines, queued first
    jobs = json.loads(run_cli(["jobs", "--db", db, "--json"], capsys)[1])
    assert sorted((j["method"], j["seed"]) for j in jobs) == [("head", 0), ("head", 1), ("lora", 0), ("lora", 1),
                                                              ("majority", 0), ("zero-shot", 0)]
    code, out, _ = run_cli(["submit", "--model", "tiny", "--method", "lora", "--db", db], capsys)
    assert "queued 1 job(s)" in out  # its baselines are queued already
    jobs = [j for j in json.loads(run_cli(["jobs", "--db", db, "--json"], capsys)[1]) if j["method"] != "lora" or j["seed"]]
    assert all(j["status"] == "queued" and j["progress"] == 0.0 for j in jobs)
    code, out, _ = run_cli(["priority", jobs[-1]["id"], "7", "--db", db], capsys)
    assert code == 0 and json.loads(run_cli(["jobs", "--db", db, "--json"], capsys)[1])[0]["id"] == jobs[-1]["id"]
    code, _, err = run_cli(["priority", jobs[-1]["id"], "3000000000", "--db", db], capsys)
    assert_one_line_error(code, err, "priority must lie between -2,147,483,648 and 2,147,483,647")
    code, out, _ = run_cli(["cancel", jobs[0]["id"], "--db", db], capsys)
    assert code == 0 and f"{jobs[0]['id']}: canceled" in out
    code, _, err = run_cli(["retry", jobs[0]["id"], "--db", db], capsys)
    assert code == 0
    code, out, _ = run_cli(["cancel", "--queued", "--db", db], capsys)
    listed = json.loads(run_cli(["jobs", "--db", db, "--json"], capsys)[1])
    assert code == 0 and {j["status"] for j in listed} == {"canceled"} and out.count(": canceled") == len(listed)
    code, _, err = run_cli(["cancel", "--db", db], capsys)
    assert_one_line_error(code, err, "name the jobs to cancel")


@pytest.mark.parametrize("extra, needle", BAD_INPUTS)
def test_submit_refuses_what_cannot_run_and_queues_nothing(extra, needle, tmp_path, db, capsys, monkeypatch):
    """`submit` checks what a worker would find out minutes later: the dataset loads with its
    columns and two classes, the model resolves. One line, nothing queued."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    d = bad_files(tmp_path)
    args = ["submit", "--model", "tiny", "--method", "lora", "head", "--db", db] + [a.format(d=d) for a in extra]
    code, out, err = run_cli(args, capsys)
    assert_one_line_error(code, err, needle.format(d=d))
    code, out, _ = run_cli(["jobs", "--db", db, "--json"], capsys)
    assert json.loads(out) == []
