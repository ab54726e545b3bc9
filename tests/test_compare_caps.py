"""Compare on a busy lab: what each chart, text and table draws is capped where more could not be
read (the most recent settings, with a count of the others), curves are sent downsampled, and a
method is one series. Counts only, never timings."""

import json

import numpy as np
import pandas as pd
import pytest

from ftlab import charts
from ftlab.charts import compare as compare_charts
from ftlab.charts import run as run_charts
from ftlab.ui.logic import compare as compare_logic


def _run(id, method, seed, score, lr=None, size=2000, **extra):
    config = {"model": "minilm", "dataset": "d", "method": method, "seed": seed, "max_train": size}
    if lr is not None:
        config["lr"] = lr
    return dict(id=id, status="succeeded", model="minilm", dataset="d", task="classification", method=method,
                seed=seed, accuracy=score, trainable_params=10**6 if method == "full" else 10_000,
                train_samples_per_s=50.0 + id, eval_samples_per_s=200.0, peak_memory_mb=1000.0, wall_s=10.0 + id,
                memory_kind="cpu_peak_rss", dataset_sizes=json.dumps({"train": size}), config=json.dumps(config),
                **extra)


def lab(settings: int, seeds: int = 2, sizes=(2000,)) -> pd.DataFrame:
    """A full fine-tuning run, then `settings` LoRA learning rates x `sizes` x `seeds`, newest last."""
    rows = [_run(1, "full", 0, 0.80), _run(2, "full", 1, 0.81)]
    for k in range(settings):
        for size in sizes:
            for seed in range(seeds):
                rows.append(_run(len(rows) + 1, "lora", seed, 0.70 + k / 1000 + seed / 100, lr=(k + 1) * 1e-5,
                                 size=size))
    return charts.prepared(pd.DataFrame(rows))


def test_bar_charts_draw_the_most_recent_settings_and_count_the_others():
    runs = lab(compare_charts.MAX_BAR_ROWS + 10, seeds=1)
    for fig in (charts.throughput(runs), charts.memory_and_time(runs)):
        meta = fig.layout.meta
        assert all(len(trace.y) == compare_charts.MAX_BAR_ROWS for trace in fig.data)
        assert meta["hidden_settings"] == 11  # the 50 LoRA settings and full: 51 rows
        assert "11 more settings" in fig.layout.title.text
        assert meta["height"] == 150 + compare_charts.BAR_PX * compare_charts.MAX_BAR_ROWS * (
            2 if fig.layout.barmode == "group" else 1)
        # the newest settings are drawn: the last learning rates, not the first ones, nor full (run 1)
        assert "lora (lr=0.0005)" in meta["labels"] and "lora (lr=1e-05)" not in meta["labels"]
        assert "full" not in meta["labels"]
    small = lab(3, seeds=1)
    assert charts.throughput(small).layout.meta["hidden_settings"] == 0
    assert "more settings" not in charts.throughput(small).layout.title.text


def test_the_score_chart_draws_a_method_as_one_series_with_each_point_named():
    runs = lab(60)
    fig = charts.score_vs_params(runs)
    lora = [t for t in fig.data if t.name == "lora"]
    # every setting is a point; a method is a series (its first setting filled, the others open)
    assert sum(len(t.x) for t in lora) == 60 and len(lora) <= 2
    assert [t.marker.symbol for t in lora] == ["circle", "circle-open"]
    assert sum(bool(t.showlegend) for t in lora) == 1  # one legend entry a method
    hover = [h for t in lora for h in t.hovertext]
    assert len(set(hover)) == 60 and "lora (lr=6e-05)" in hover
    assert "%{hovertext}" in lora[0].hovertemplate and list(lora[0].customdata[0][:1]) == [2]
    assert len(fig.data) < 10 and fig.layout.meta["n_points"] == 61
    assert len([a for a in fig.layout.annotations if a.text == "full fine-tuning"]) == 1


def test_the_learning_curve_draws_the_most_recent_settings_as_one_series_a_method():
    most = compare_charts.MAX_CURVE_SETTINGS
    runs = lab(most + 6, seeds=2, sizes=(64, 256))
    fig = charts.learning_curve(runs)
    meta = fig.layout.meta
    assert len(meta["curves"]) == most and meta["hidden_settings"] == 6
    assert "6 more settings" in fig.layout.title.text
    [line] = [t for t in fig.data if t.name == "lora" and t.mode == "lines+markers"]
    # the curves of one method: one series, each curve's points then a gap
    assert sum(x is None for x in line.x) == most - 1 and sum(x is not None for x in line.x) == 2 * most
    assert f"lora (lr={(most + 6) * 1e-5:.3g})" in meta["curves"] and "lora (lr=1e-05)" not in meta["curves"]
    assert sum(1 for t in fig.data if t.fill == "toself") == 1  # the seed bands of a method: one shape series


def test_loss_and_eval_curves_are_sent_downsampled():
    n = 2000
    steps = pd.DataFrame([dict(run_id=r, step=s, loss=2.0 / s + (s % 7) / 100, lr=1e-3, epoch=s / n)
                          for r in (1, 2) for s in range(1, n + 1)])
    runs = pd.DataFrame([_run(1, "full", 0, 0.8), _run(2, "lora", 0, 0.7)])
    fig = charts.loss_curves(steps, runs)
    most = run_charts.MAX_LINE_POINTS
    for trace in fig.data:
        assert len(trace.x) <= most and trace.x[0] == 1 and trace.x[-1] == n
    assert fig.layout.meta["max_points"] == most
    # the moving average is over every logged loss, then thinned
    full = charts.ema([2.0 / s + (s % 7) / 100 for s in range(1, n + 1)], charts.LOSS_SMOOTHING)
    assert fig.data[0].y[-1] == pytest.approx(full[-1])
    raw = charts.loss_curves(steps.iloc[:50], runs, smoothing=0)
    assert len(raw.data[0].x) == 50  # short runs keep every point
    evals = pd.DataFrame([dict(run_id=1, step=s, split="validation", accuracy=0.5 + s / 10**5) for s in range(1, n + 1)])
    assert len(charts.eval_curves(evals, "accuracy", runs).data[0].x) <= most


def test_ema_is_the_debiased_moving_average():
    values = [3.0, 1.0, 2.0, 5.0]
    out, last, weight = [], 0.0, 0.0
    for v in values:
        last, weight = 0.6 * last + 0.4 * v, 0.6 * weight + 0.4
        out.append(last / weight)
    assert list(charts.ema(values, 0.6)) == pytest.approx(out)
    assert list(charts.ema(values, 0)) == values and len(charts.ema([], 0.9)) == 0


def test_verdicts_are_limited_to_the_most_recent_settings_and_counted():
    runs = lab(compare_logic.MAX_VERDICTS + 5)
    assert charts.verdict_count(runs) == compare_logic.MAX_VERDICTS + 5
    every = charts.verdicts(runs)
    recent = charts.verdicts(runs, limit=3)
    newest = {f"lora (lr={k * 1e-5:.3g})" for k in range(compare_logic.MAX_VERDICTS + 3,
                                                          compare_logic.MAX_VERDICTS + 6)}
    assert {v["a"] for v in recent} == newest
    assert [v["text"] for v in recent] == [v["text"] for v in every if v["a"] in newest]  # the same order
    text = compare_logic.verdicts_markdown(runs)
    assert text.count("\n- ") == compare_logic.MAX_VERDICTS and "5 more gaps" in text


def test_versus_full_lists_the_most_recent_settings_and_counts_the_others():
    runs = lab(compare_logic.MAX_VERSUS_ROWS + 7, seeds=1)
    assert len(charts.versus_full(runs)) == compare_logic.MAX_VERSUS_ROWS + 7
    text = compare_logic.versus_full_markdown(runs)
    rows = [line for line in text.splitlines() if line.startswith("| lora")]
    assert len(rows) == compare_logic.MAX_VERSUS_ROWS and "7 more settings" in text
    assert "lora (lr=1e-05)" not in text and f"lora (lr={(compare_logic.MAX_VERSUS_ROWS + 7) * 1e-5:.3g})" in text


def test_the_runs_table_sends_the_most_recent_runs():
    runs = lab(30, seeds=1)
    table = compare_logic.runs_table(runs, limit=10)
    assert len(table) == 10 and list(table["run"]) == list(runs["id"][-10:])
    assert len(compare_logic.runs_table(runs)) == len(runs)


def test_config_diff_tells_numbers_of_other_types_apart():
    def frame(*values):
        return pd.DataFrame({"id": list(range(len(values))),
                             "config": [json.dumps({"method": "lora", "x": v, "l": [1, 2]}) for v in values]})
    assert "x" in compare_logic.config_diff(frame(1, 1.0)) and "x" in compare_logic.config_diff(frame(1, True))
    assert "x" not in compare_logic.config_diff(frame(1, 1)) and "l" not in compare_logic.config_diff(frame(1, 2))
    assert list(compare_logic.config_diff(frame(1, True, None))["x"]) == ["1", "true", ""]


def test_steps_can_be_read_with_a_stride():
    from ftlab.store import Store

    with Store() as store:
        for method in ("full", "lora"):
            rid = store.create_run({}, "h", model="m", dataset="d", task="classification", method=method, seed=0,
                                   versions={})
            for s in range(1, 301):
                store.record_event(rid, {"event": "step", "step": s, "loss": 1.0 / s})
        every = store.steps_df()
        for most in (2, 10, 100, 500):
            thin = store.steps_df(max_points=most)
            for rid, steps in thin.groupby("run_id"):
                assert len(steps) <= most and steps["step"].iloc[0] == 1 and steps["step"].iloc[-1] == 300
                assert np.all(np.diff(steps["step"]) > 0)
        assert len(store.steps_df(max_points=500)) == len(every) == 600
        assert list(store.steps_df([1], max_points=5)["step"]) == [1, 76, 151, 226, 300]
        with pytest.raises(ValueError):
            store.steps_df(max_points=1)


def test_an_experiment_borrows_the_baselines_it_lacks_from_the_same_model_and_data():
    def row(id, experiment, method, dataset="d"):
        return dict(id=id, experiment_id=experiment, model="m", dataset=dataset, method=method, status="succeeded")
    runs = pd.DataFrame([row(1, "a", "full"), row(2, "a", "lora"), row(3, "b", "majority"), row(4, "b", "zero-shot"),
                         row(5, "b", "majority", dataset="other"), row(6, "c", "zero-shot"), row(7, "c", "lora")])
    assert list(compare_logic.select_runs(runs, ["a"])["id"]) == [1, 2, 3, 4, 6]  # its pair's baselines, not others'
    assert list(compare_logic.select_runs(runs, ["c"])["id"]) == [3, 6, 7]  # its own zero-shot, a borrowed majority
    assert list(compare_logic.select_runs(runs, None)["id"]) == list(range(1, 8))
    assert compare_logic.select_runs(runs, ["nothing"]).empty


def test_a_borrowed_baseline_is_the_one_of_the_same_budget():
    """Experiment B trains on 64 and 256 examples and ran the majority class on 64 only: the one
    borrowed for 256 is A's majority class on 256 examples, not B's 64-example line."""
    def row(id, experiment, method, budget):
        return dict(id=id, experiment_id=experiment, model="m", dataset="d", method=method, status="succeeded",
                    config=json.dumps({"method": method, "max_train": budget}))
    runs = pd.DataFrame([row(1, "a", "lora", 256), row(2, "a", "majority", 256), row(3, "a", "majority", 1000),
                         row(4, "b", "lora", 64), row(5, "b", "lora", 256), row(6, "b", "majority", 64)])
    assert list(compare_logic.select_runs(runs, ["b"])["id"]) == [2, 4, 5, 6]  # not the 1,000-example line
    lonely = pd.DataFrame([row(1, "a", "majority", 1000), row(2, "b", "lora", 64)])
    assert list(compare_logic.select_runs(lonely, ["b"])["id"]) == [1, 2]  # none of its budget: the pair's


def test_a_baseline_of_another_budget_says_which_in_its_label():
    def row(id, method, budget, score, params):
        return dict(id=id, status="succeeded", model="m", dataset="d", task="classification", method=method, seed=0,
                    accuracy=score, trainable_params=params, config=json.dumps({"method": method, "max_train": budget}))
    frame = pd.DataFrame([row(1, "lora", 256, 0.7, 1000), row(2, "lora", 64, 0.6, 1000), row(3, "majority", 64, 0.3, 0)])
    fig = charts.score_vs_params(frame)
    assert "majority class: 30.0%" in fig.layout.meta["baselines"]  # the 64-example panel: its own
    assert "majority class (64 examples): 30.0%" in fig.layout.meta["baselines"]  # the 256 panel: borrowed, said so


def test_a_score_axis_spans_at_least_ten_points_so_its_ticks_differ():
    from ftlab.charts.style import clamped_range

    low, high = clamped_range([0.738, 0.745], [0.738, 0.745])
    assert high - low >= 0.10 and low < 0.738 and high > 0.745
    low, high = clamped_range([0.99], [1.0])
    assert high <= 1.0 + 0.02 and high - low >= 0.10  # at the top, widened downwards
