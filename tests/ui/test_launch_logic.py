"""The Launch tab's logic (ftlab/ui/logic/launch.py): form fields, the launch grid, options, uploads."""

from pathlib import Path

import pytest

from ftlab.errors import ConfigError, DataError
from ftlab import uploads
from ftlab.ui.logic import launch as launch_logic


def training(**changes):
    values = launch_logic.training_defaults()
    values.update(changes)
    return values


# ---- the launch grid --------------------------------------------------------------------------

def test_parse_option_lines_types_values_like_yaml():
    text = "r=16\n# a comment\n\ndora = true\ntarget_modules=[query, value]\nalpha=32.5"
    assert launch_logic.parse_option_lines(text) == {"r": 16, "dora": True, "target_modules": ["query", "value"],
                                                     "alpha": 32.5}
    assert launch_logic.parse_option_lines("") == {} and launch_logic.parse_option_lines(None) == {}


@pytest.mark.parametrize("text, words", [("r 16", "line 1"), ("=3", "expected key=value"),
                                         ("r=1\nr=2", "given twice")])
def test_parse_option_lines_names_the_bad_line(text, words):
    with pytest.raises(ConfigError, match=words):
        launch_logic.parse_option_lines(text)


def test_grid_is_methods_times_seeds_with_consecutive_seeds():
    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["head", "bitfit"], {"head": "train_pooler=true"}, 3, 5,
                                   training(max_train=64))
    assert grid.ok and not grid.errors
    assert [(c.method, c.seed) for c in grid.configs] == [("head", 5), ("head", 6), ("head", 7),
                                                          ("bitfit", 5), ("bitfit", 6), ("bitfit", 7)]
    assert all(c.max_train == 64 and c.epochs == 1.0 and c.batch_size == 16 for c in grid.configs)
    assert grid.configs[0].method_options.train_pooler is True
    assert grid.configs[0].lr is None  # empty lr = the method's default
    assert launch_logic.queue_label(["head", "bitfit"], 3) == "Queue 6 runs"
    assert launch_logic.queue_label(["head"], 1) == "Queue 1 run"


def test_a_quantized_base_is_refused_per_method_not_for_the_whole_launch():
    quantized = training(max_train=64, quantize="nf4", gradient_checkpointing=True)
    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["lora", "ia3"], {}, 1, 0, quantized)
    assert grid.ok and [(c.method, c.quantize, c.gradient_checkpointing) for c in grid.configs] == [
        ("lora", "nf4", True), ("ia3", "nf4", True)]
    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["lora", "full"], {}, 1, 0, quantized)
    assert len(grid.errors) == 1 and grid.errors[0].startswith("full: ") and "quantized base" in grid.errors[0]
    from ftlab import methods

    shared = methods.get_method(launch_logic.SHARED_CHECK_METHOD)
    assert shared.tasks >= {"classification", "ner", "sft"} and set(shared.quantized) >= {"int8", "nf4"}


def test_defaults_are_a_small_cpu_budget():
    d = launch_logic.training_defaults()
    assert (d["epochs"], d["max_train"], d["batch_size"]) == (1.0, 2000, 16)
    assert launch_logic.DEFAULT_MODEL == "minilm" and launch_logic.DEFAULT_DATASET == "tweets-sentiment"
    assert launch_logic.DEFAULT_METHODS == ["full", "lora", "ia3"]


def test_zero_in_an_optional_number_box_means_not_set():
    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["head"], {}, 1, 0,
                                   training(max_steps=0, max_train=0, time_budget_s=0, eval_batch_size=0, lr="3e-4"))
    cfg = grid.configs[0]
    assert (cfg.max_steps, cfg.max_train, cfg.time_budget_s, cfg.eval_batch_size) == (None, None, None, None)
    assert cfg.lr == pytest.approx(3e-4)
    assert "0: as many as the epochs give" in launch_logic.help_for("max_steps")


def test_every_error_is_reported_and_nothing_is_built():
    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["head", "lora"], {"lora": "rank=4", "head": "oops"},
                                   2, 0, training(lr="fast", batch_size=0))
    assert not grid.ok and grid.configs == []
    text = " | ".join(grid.errors)
    assert "lr: expected a number" in text and "'fast'" in text
    # training fields are checked before any method: a bad field is reported once, not per method
    assert len(grid.errors) == 1

    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["head", "lora"], {"lora": "rank=4", "head": "oops"},
                                   2, 0, training(batch_size=0))
    assert grid.errors == ["batch_size: Input should be greater than or equal to 1 (got 0)"]

    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["head", "lora"], {"lora": "rank=4", "head": "oops"},
                                   2, 0, training())
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
    grid = launch_logic.build_grid(**args)
    assert not grid.ok
    assert any(words in e for e in grid.errors), grid.errors
    assert "\n- " in launch_logic.errors_markdown(grid.errors)


def test_options_table_lists_every_option_with_its_default():
    from ftlab import methods

    table = launch_logic.options_table(methods.option_help(methods.get_method("lora")))
    assert "| `r` | int | `8` |" in table and "`dora`" in table
    assert launch_logic.options_table([]) == "_This method has no options._"


# ---- uploads ----------------------------------------------------------------------------------

def test_upload_is_saved_under_a_generated_name(tmp_path):
    src = tmp_path / "client name; rm -rf.CSV"
    src.write_text("text,label\na,x\nb,y\n")
    dest = uploads.root(str(tmp_path / "lab.duckdb"))
    assert dest == tmp_path / "lab-uploads"
    saved = Path(uploads.save(str(src), dest))
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
        uploads.save(str(src), tmp_path / "up", max_bytes=limit)
    assert not (tmp_path / "up").exists() or not any((tmp_path / "up").iterdir())


def test_errors_name_the_widget_on_the_page_not_a_flag(tmp_path):
    assert launch_logic.page_label("label_column") == "Columns and encoding > Label column"
    assert launch_logic.page_label("precision") == "Advanced training options > precision"
    assert launch_logic.page_label("batch_size") == "batch_size"  # shown on the form under its own name
    cols = tmp_path / "cols.csv"
    cols.write_text("review,stars\ngood,5\nbad,1\n")
    from ftlab import data
    from ftlab.errors import DataError, one_line

    with pytest.raises(DataError) as caught:  # what the Queue and Estimate buttons show for this file
        data.load_dataset(str(cols))
    assert "Set --label-column" in str(caught.value)  # the command line's words
    on_page = one_line(caught.value, launch_logic.page_label)
    assert "Set Columns and encoding > Label column" in on_page and "--" not in on_page
    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["head"], {}, 1, 0, training(precision="fp8"))
    assert any(e.startswith("precision:") for e in grid.errors)  # a form error already names its field


def test_default_launch_draws_a_validation_curve():
    """eval_every 0 means once an epoch, and a one-epoch run skips its lone validation pass: the
    default launch evaluates every 50 of its 125 steps instead, so Compare has a curve."""
    d = launch_logic.training_defaults()
    steps = d["max_train"] // d["batch_size"]
    assert 0 < d["eval_every"] < steps and d["epochs"] == 1.0
    assert "draws no validation curve" in launch_logic.help_for("eval_every")


def test_the_model_picker_says_what_a_builtin_model_is():
    assert launch_logic.model_markdown("e5-small").startswith("Encoder · multilingual-e5-small")
    assert "Chinese" in launch_logic.model_markdown("e5-small")
    assert launch_logic.model_markdown("smollm2").startswith("Decoder · SmolLM2-135M-Instruct")
    assert launch_logic.model_markdown("bert-base-uncased") == "" and launch_logic.model_markdown("") == ""


def test_a_learning_curve_launch_is_methods_by_sizes_by_seeds():
    assert launch_logic.parse_sizes("all, 64 16,256") == [16, 64, 256, None]
    assert launch_logic.parse_sizes("") == []
    with pytest.raises(ConfigError, match="'lots' is not a whole number"):
        launch_logic.parse_sizes("16, lots")
    training = {**launch_logic.training_defaults(), "train_sizes": "16, 64, all"}
    grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["full", "head"], {}, 2, 0, training)
    assert grid.ok and len(grid.configs) == 2 * 3 * 2
    assert launch_logic.queue_label(["full", "head"], 2, "16, 64, all") == "Queue 12 runs"
    sizes = sorted({(c.max_train or 0, c.balanced_train) for c in grid.configs})
    assert sizes == [(0, False), (16, True), (64, True)]  # 'all' is the whole split, as it comes
    bad = launch_logic.build_grid("tiny", "tweets-sentiment", ["full"], {}, 1, 0, {**training, "train_sizes": "1"})
    assert not bad.ok and "too small" in bad.errors[0]


def test_balanced_sizes_take_classes_equally_and_nest():
    from ftlab.data import balanced_first, load_dataset

    labels = [0] * 50 + [1] * 5 + [2] * 30
    take = balanced_first(labels, 30)
    counts = [sum(labels[i] == c for i in take) for c in range(3)]
    assert counts == [13, 5, 12] or counts == [12, 5, 13]  # the small class gives all it has
    assert set(balanced_first(labels, 12)) <= set(take)
    data = load_dataset("tweets-sentiment", max_train=64, balanced=True)
    per_class = [data.train.labels.count(c) for c in range(3)]
    assert len(data.train) == 64 and max(per_class) - min(per_class) <= 1


def test_the_form_follows_the_run_config_schema():
    """Each training widget's kind comes from RunConfig's type: the optional numbers are the boxes
    where 0 means unset, a Literal is a dropdown of exactly its values, and the form's defaults
    make a valid RunConfig."""
    from typing import get_args

    from ftlab.config import Precision, RunConfig

    kinds = {name: kind for name, kind, _ in launch_logic.TRAINING_FIELDS}
    assert kinds["precision"] == get_args(Precision)
    assert kinds["compile"] == "bool" and kinds["batch_size"] == "int" and kinds["epochs"] == "float"
    optional_numbers = {n for n in launch_logic.FORM_FIELDS if n != "lr" and launch_logic.form_kind(n) != "text"
                        and RunConfig.model_fields[n].default is None}
    assert set(launch_logic.ZERO_MEANS) == optional_numbers
    fields, errors = launch_logic.clean_training(launch_logic.training_defaults())
    assert errors == []
    config = RunConfig(method="lora", **fields)
    assert (config.epochs, config.max_train, config.batch_size, config.max_steps, config.lr) == (1.0, 2000, 16, None, None)
    assert launch_logic.form_kind("tag") == "text" and launch_logic.form_kind("head_lr") == "optfloat"
    assert config.oom_fallbacks == ("batch",)
    # an emptied fallbacks box is no fallback (a run that fails at its first out-of-memory error),
    # as "none" is; an emptied required text box is an error
    for typed in ("", "none"):
        fields, errors = launch_logic.clean_training({**launch_logic.training_defaults(), "oom_fallbacks": typed})
        assert errors == [] and RunConfig(method="lora", **fields).oom_fallbacks == ()
    fields, errors = launch_logic.clean_training({**launch_logic.training_defaults(), "quantize": ""})
    assert errors == ["quantize: enter a value"]


def test_the_queue_button_counts_baselines_and_a_studys_runs():
    assert launch_logic.queue_label(["full", "lora", "ia3"], 1, baselines=2) == "Queue 3 runs + 2 baseline(s)"
    assert launch_logic.queue_label(["head"], 1, baselines=0) == "Queue 1 run"
    # Tune: 6 trials per method, then the best and the default setting over 2 seeds each
    assert launch_logic.queue_label(["lora", "ia3"], 2, trials=6, baselines=2) == \
        "Queue 12 trials + 8 runs + 2 baseline(s)"


def test_a_generative_dataset_sizes_the_form_for_generation_and_offers_a_decoder():
    from ftlab.ui.logic.launch import task_form_values

    form = {"max_train": 2000, "max_eval": 1000.0, "eval_every": "50", "batch_size": 16}  # the form's defaults
    assert task_form_values("tweets-instruct", "minilm", form) == {
        "max_train": 400, "max_eval": 150, "eval_every": 0, "batch_size": 8, "model": "smollm2"}
    # a value the user typed stays; a decoder stays picked
    assert task_form_values("gsm-symbolic", "smollm2", dict(form, max_train=123)) == {
        "max_eval": 150, "eval_every": 0, "batch_size": 8}
    # back to a classification set: the generative sizes return to the form's defaults
    assert task_form_values("tweets-sentiment", "smollm2", {"max_train": 400, "max_eval": 150, "eval_every": 0,
                                                            "batch_size": 8}) == \
        {"max_train": 2000, "max_eval": 1000, "eval_every": 50, "batch_size": 16}
    assert task_form_values("no-such-set", "minilm", form) == {}
