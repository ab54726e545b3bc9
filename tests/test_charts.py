"""ftlab.charts: hand-made frames in the shapes Store returns, figures checked by their data."""

import json
import math
import subprocess
import sys

import pandas as pd
import plotly.io as pio
import pytest

from ftlab import charts

T1 = 12.706204736174634  # t(0.975, df=1): the 95% CI multiplier for 2 seeds (scipy)


def run(id, method, seed, score, params, status="succeeded", task="classification", **extra):
    row = dict(id=id, status=status, model="minilm", dataset="tweets-sentiment", task=task,
               method=method, seed=seed, accuracy=score if task == "classification" else None,
               entity_f1=score if task == "ner" else None, macro_f1=score - 0.05 if score else None,
               trainable_params=params, total_params=22_700_000, train_samples_per_s=100.0 * id,
               train_tokens_per_s=3000.0 * id, eval_samples_per_s=300.0 * id,
               peak_memory_mb=1000.0 + id, memory_kind="cuda_max_allocated", wall_s=10.0 * id,
               time_to_first_step_s=1.0)
    row.update(extra)
    return row


@pytest.fixture
def runs():
    """3 methods x 2 seeds, plus a failed run and a running one that must be ignored."""
    return pd.DataFrame([
        run(1, "full", 0, 0.80, 1_000_000), run(2, "full", 1, 0.82, 1_000_000),
        run(3, "lora", 0, 0.78, 10_000), run(4, "lora", 1, 0.80, 10_000),
        run(5, "bitfit", 0, 0.70, 50_000), run(6, "bitfit", 1, 0.74, 50_000),
        run(7, "full", 2, 0.10, 1_000_000, status="failed"),
        run(8, "lora", 2, None, None, status="running"),
    ])


@pytest.fixture
def steps():
    return pd.DataFrame([dict(run_id=r, step=s, epoch=s / 10, loss=2.0 / s, lr=1e-3, samples_per_s=100.0,
                              tokens_per_s=3000.0, elapsed_s=float(s))
                         for r in (1, 3, 8) for s in range(1, 11)])


@pytest.fixture
def evals():
    rows = [dict(run_id=r, step=s, split="validation", eval_samples_per_s=300.0, accuracy=0.5 + s / 100,
                 loss=1.0 / s) for r in (1, 3) for s in (5, 10)]
    rows.append(dict(run_id=1, step=10, split="test", eval_samples_per_s=300.0, accuracy=0.8, loss=0.5))
    return pd.DataFrame(rows)


def by_name(fig, name):
    [trace] = [t for t in fig.data if t.name == name]
    return trace


# -- aggregation ------------------------------------------------------------------------------

def test_score_metric_follows_the_task(runs):
    assert charts.score_metric(runs) == "accuracy"
    assert charts.score_metric(runs.assign(task="ner")) == "entity_f1"
    assert charts.score_metric(pd.DataFrame()) == "accuracy"


def test_aggregate_seeds_by_hand(runs):
    agg = charts.aggregate_seeds(runs, "accuracy").set_index("method")
    assert sorted(agg.index) == ["bitfit", "full", "lora"]  # failed and running runs left out
    assert list(agg["n"]) == [2, 2, 2]
    # Sorted by trainable parameters: lora (10k) < bitfit (50k) < full (1M).
    assert list(agg.index) == ["lora", "bitfit", "full"]
    full = agg.loc["full"]
    assert full["mean"] == pytest.approx(0.81)
    assert full["std"] == pytest.approx(math.sqrt(2) * 0.01)  # sample std of 0.80, 0.82
    assert full["ci95"] == pytest.approx(T1 * 0.01)  # t * std / sqrt(2)
    assert agg.loc["bitfit", "ci95"] == pytest.approx(T1 * 0.02)
    assert full["trainable_params"] == 1_000_000
    assert full["train_samples_per_s"] == pytest.approx(150.0)  # runs 1 and 2: 100, 200
    assert full["train_samples_per_s_std"] == pytest.approx(math.sqrt(2) * 50)
    assert full["run_ids"] == [1, 2] and full["seeds"] == [0, 1]


def test_runs_with_other_settings_are_not_averaged_as_seeds():
    """Two LoRA settings x 2 seeds: two points, each the mean of its own seeds, named by what differs."""
    def cfg(max_train, seed, r=8):
        return {"model": "minilm", "method": "lora", "max_train": max_train, "seed": seed, "method_options": {"r": r}}
    frame = pd.DataFrame([
        run(1, "lora", 0, 0.70, 10_000, config=cfg(2000, 0)), run(2, "lora", 1, 0.72, 10_000, config=cfg(2000, 1)),
        run(3, "lora", 0, 0.60, 10_000, config=cfg(500, 0)), run(4, "lora", 1, 0.62, 10_000, config=cfg(500, 1)),
        run(5, "full", 0, 0.75, 1_000_000, config={"method": "full", "max_train": 2000, "seed": 0}),
        run(6, "full", 1, 0.77, 1_000_000, config='{"method": "full", "max_train": 2000, "seed": 1}'),
    ])
    agg = charts.aggregate_seeds(frame, "accuracy")
    lora = agg[agg["method"] == "lora"].set_index("budget")
    assert sorted(lora.index) == [500, 2000] and list(lora["variant"]) == ["", ""]  # a budget is a group, not a variant
    assert lora.loc[2000, "mean"] == pytest.approx(0.71) and lora.loc[500, "mean"] == pytest.approx(0.61)
    assert list(lora["n"]) == [2, 2]
    assert agg[agg["method"] == "full"]["variant"].tolist() == [""]  # one setting: no qualifier (JSON or dict)
    fig = charts.score_vs_params(frame)
    assert sorted(fig.layout.meta["labels"]) == ["full (2,000 examples)", "lora (2,000 examples)", "lora (500 examples)"]
    assert fig.layout.meta["groups"] == ["500 examples", "2,000 examples"]  # what sets each panel apart
    # each budget its own panel: lora on 500 examples is never on full's axis, nor against it
    assert set(charts.versus_full(frame)["budget"]) == {2000}
    assert [v["budget"] for v in charts.verdicts(frame)] == [2000]
    two_options = frame.assign(config=[cfg(2000, 0), cfg(2000, 1, r=16), cfg(2000, 0, r=16), cfg(2000, 1),
                                       frame["config"][4], frame["config"][5]])
    agg = charts.aggregate_seeds(two_options, "accuracy")
    assert sorted(agg[agg["method"] == "lora"]["variant"]) == ["r=16", "r=8"]


def test_a_run_stored_before_a_field_existed_is_the_same_setting():
    """Seed 0 stored before balanced_train and report_to existed, seed 1 with them at their
    defaults (and one reported to a tracker): one setting of two seeds, not two settings."""
    old = {"method": "lora", "max_train": 2000, "seed": 0}
    new = {**old, "seed": 1, "balanced_train": False, "report_to": ["mlflow"]}
    frame = pd.DataFrame([run(1, "lora", 0, 0.70, 10_000, config=old), run(2, "lora", 1, 0.72, 10_000, config=new)])
    agg = charts.aggregate_seeds(frame, "accuracy")
    assert agg["variant"].tolist() == [""] and agg["n"].tolist() == [2]
    balanced = {**new, "balanced_train": True}
    two = charts.aggregate_seeds(frame.assign(config=[old, balanced]), "accuracy")
    assert sorted(two["variant"]) == ["balanced_train=False", "balanced_train=True"]


def test_aggregate_single_seed_has_no_interval(runs):
    agg = charts.aggregate_seeds(runs[runs["id"] == 1], "accuracy")
    assert agg["n"].tolist() == [1] and math.isnan(agg["ci95"][0]) and math.isnan(agg["std"][0])


def test_error_bars_and_verdicts_take_their_interval_from_one_place(runs):
    from ftlab.stats import t_quantile

    assert t_quantile(1) == pytest.approx(12.706, abs=1e-3) and t_quantile(2) == pytest.approx(4.303, abs=1e-3)
    assert t_quantile(1000) == pytest.approx(1.962, abs=1e-3) and math.isnan(t_quantile(0))
    agg = charts.aggregate_seeds(runs, "accuracy")
    for _, row in agg[agg["n"] > 1].iterrows():
        assert row["ci95"] == pytest.approx(t_quantile(row["n"] - 1) * row["std"] / math.sqrt(row["n"]))


def test_pareto_frontier_hand_made():
    points = pd.DataFrame({"label": list("abcde"), "trainable_params": [100, 100, 1000, 500, 10_000],
                           "mean": [0.5, 0.6, 0.6, 0.55, 0.9]})
    # a: same params as b but worse; c: more params than b for no gain; d: worse than b.
    assert list(charts.pareto_frontier(points)["label"]) == ["b", "e"]


# -- score vs params ----------------------------------------------------------------------------

def test_score_vs_params_points_error_bars_and_frontier(runs):
    fig = charts.score_vs_params(runs)
    assert fig.layout.meta["n_points"] == 3
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.xaxis.title.text == "Trainable parameters (log scale)"
    assert fig.layout.yaxis.title.text == "Test accuracy (%)"
    expected = {"full": (1_000_000, 0.81, T1 * 0.01), "lora": (10_000, 0.79, T1 * 0.01),
                "bitfit": (50_000, 0.72, T1 * 0.02)}
    for method, (x, y, ci) in expected.items():
        trace = by_name(fig, method)
        assert list(trace.x) == [x] and trace.y[0] == pytest.approx(y)
        assert trace.error_y.array[0] == pytest.approx(ci)
        assert list(trace.customdata[0][:1]) == [2]  # n, shown on hover
    # lora (10k, 0.79) and full (1M, 0.81) are on it; bitfit has more params than lora, lower score.
    assert fig.layout.meta["frontier"] == ["lora", "full"]
    frontier = by_name(fig, "Pareto frontier")
    assert list(frontier.x) == [10_000, 1_000_000]


def test_full_fine_tuning_is_marked(runs):
    fig = charts.score_vs_params(runs)
    assert by_name(fig, "full").marker.symbol == "star"
    assert by_name(fig, "lora").marker.symbol != "star"
    [note] = [a for a in fig.layout.annotations if a.text == "full fine-tuning"]
    assert note.x == pytest.approx(6.0)  # log10(1M): annotations on a log axis take log10
    assert fig.layout.meta["full_ft"] is True
    assert charts.score_vs_params(runs[runs["method"] != "full"]).layout.meta["full_ft"] is False


def test_metric_override_and_ner_default(runs):
    fig = charts.score_vs_params(runs, metric="macro_f1")
    assert by_name(fig, "full").y[0] == pytest.approx(0.76)
    assert fig.layout.yaxis.title.text == "Test macro-F1 (%)"
    ner = runs.assign(task="ner", entity_f1=runs["accuracy"], accuracy=None)
    fig = charts.score_vs_params(ner)
    assert fig.layout.meta["metric"] == "entity_f1"
    assert by_name(fig, "lora").y[0] == pytest.approx(0.79)


def test_generative_runs_name_their_score_exact_match(runs, evals):
    """A generative run's `accuracy` is the exact match of its answers: every chart and the
    verdicts call it that; runs of several tasks keep the metric's own name."""
    from ftlab.ui.logic.compare import verdicts_markdown

    sft = runs.assign(task="sft", forgetting_ce=0.1)
    fig = charts.score_vs_params(sft)
    assert fig.layout.meta["metric"] == "accuracy"
    assert fig.layout.yaxis.title.text == "Test exact match (%)" and "exact match" in fig.layout.title.text
    assert charts.general_forgetting(sft).layout.yaxis.title.text == "exact match"
    assert charts.eval_curves(evals, runs=sft.assign(id=sft["id"])).layout.yaxis.title.text.startswith(
        "Validation exact match")
    assert "exact match" in verdicts_markdown(sft).splitlines()[0]
    assert "accuracy" in verdicts_markdown(runs).splitlines()[0]
    mixed = pd.concat([runs, sft.assign(id=sft["id"] + 100)])
    assert charts.score_vs_params(mixed).layout.yaxis.title.text == "Test accuracy (%)"


@pytest.mark.parametrize("dataset", ["glue/sst2", "sst2", "SST-2", "stanfordnlp/sst2", "nyu-mll/glue:sst2"])
def test_references_for_sst2(dataset):
    ref = charts.references_for(dataset)
    assert set(ref["method"]) == {"full", "lora", "bitfit"}
    assert ref.set_index("method")["score"].to_dict() == {"full": 0.948, "lora": 0.951, "bitfit": 0.937}


@pytest.mark.parametrize("dataset", ["openai/gsm8k:main", "gsm8k", "meta-math/MetaMathQA"])
def test_peft_method_comparison_points_for_gsm8k(dataset):
    ref = charts.references_for(dataset).set_index("method")
    assert ref.loc["lora", "score"] == 0.482 and ref.loc["lora", "trainable_params"] == 9_175_040  # rank 32
    assert ref.loc["full", "score"] == 0.500 and "peft method comparison" in ref.loc["ia3", "source"]


@pytest.mark.parametrize("dataset", ["tweets-sentiment", "sst5", "zh-reviews", "gsm-symbolic", "", None])
def test_no_references_for_other_datasets(dataset):
    assert charts.references_for(dataset) is None


def test_reference_series(runs):
    fig = charts.score_vs_params(runs, reference=charts.references_for("glue/sst2"))
    trace = by_name(fig, "published: Hu et al. 2021, RoBERTa-base SST-2")
    assert len(trace.x) == 3 and all(s.endswith("-open") for s in trace.marker.symbol)
    assert fig.layout.meta["n_references"] == 3
    assert fig.layout.meta["frontier"] == ["lora", "full"]  # references never join our frontier
    assert not any(t.name.startswith("published") for t in charts.score_vs_params(runs).data)


# -- bars -----------------------------------------------------------------------------------------

def test_throughput_bars(runs):
    """Horizontal bars: a row per setting named on the axis, train and eval side by side."""
    fig = charts.throughput(runs)
    assert [t.name for t in fig.data] == ["train", "eval"] and all(t.orientation == "h" for t in fig.data)
    train, evaluation = fig.data
    assert list(train.y) == ["lora", "bitfit", "full"]
    assert list(train.x)[2] == pytest.approx(150.0) and list(evaluation.x)[2] == pytest.approx(450.0)  # runs 1, 2
    assert list(evaluation.error_x.array)[2] == pytest.approx(math.sqrt(2) * 150)
    assert "samples/s" in fig.layout.xaxis.title.text
    assert fig.layout.meta["height"] == 150 + 24 * 6  # taller with every setting


def test_memory_and_time(runs):
    fig = charts.memory_and_time(runs)
    assert len(fig.data) == 2  # one row of bars per panel
    assert fig.layout.xaxis.title.text.startswith("Peak memory (MB)") and fig.layout.xaxis2.title.text == "Wall time (s)"
    wall = fig.data[1]
    assert list(wall.y) == ["lora", "bitfit", "full"] and wall.x[2] == pytest.approx(15.0)
    assert "GPU allocated" in fig.layout.xaxis.title.text
    mixed = runs.assign(memory_kind=["cuda_max_allocated", "cpu_peak_rss"] * 4)
    assert "not comparable" in charts.memory_and_time(mixed).layout.xaxis.title.text


def test_bar_labels_name_the_group_only_where_groups_differ():
    """Settings of several budgets in one bar chart: the budget leads each name, the model and
    data (the same for all) do not."""
    frame = pd.DataFrame([run(1, "lora", 0, 0.7, 10_000, config={"method": "lora", "max_train": 64}),
                          run(2, "lora", 0, 0.8, 10_000, config={"method": "lora", "max_train": 256}),
                          run(3, "full", 0, 0.8, 10**6, config={"method": "full", "max_train": 256})])
    assert list(charts.throughput(frame).data[0].y) == ["64 examples · lora", "256 examples · lora",
                                                        "256 examples · full"]


# -- curves and heatmap -----------------------------------------------------------------------------

def test_loss_curves(steps, runs):
    fig = charts.loss_curves(steps, runs)
    assert [t.name for t in fig.data] == ["full seed 0 (#1)", "lora seed 0 (#3)", "lora seed 2 (#8)"]
    assert len(fig.data[0].x) == 10 and fig.data[0].y[0] == pytest.approx(2.0)
    assert fig.data[1].line.dash != fig.data[2].line.dash  # seeds of one method: same colour, other dash
    assert [t.name for t in charts.loss_curves(steps).data] == ["run #1", "run #3", "run #8"]


def test_eval_curves(evals, runs):
    fig = charts.eval_curves(evals, "accuracy", runs)
    assert len(fig.data) == 2 and list(fig.data[0].x) == [5, 10]  # the test row is another split
    assert fig.layout.yaxis.title.text == "Validation accuracy (%)"
    assert charts.eval_curves(evals, "entity_f1", runs).layout.meta["empty"]


def test_confusion_heatmap():
    matrix = [[5, 1, 0], [2, 7, 1], [0, 0, 9]]
    fig = charts.confusion_heatmap(matrix, ["neg", "neu", "pos"])
    [heat] = fig.data
    assert heat.z.tolist() == matrix
    assert list(heat.x) == ["neg", "neu", "pos"] and list(heat.y) == ["neg", "neu", "pos"]
    assert heat.texttemplate  # counts written in the cells
    assert fig.layout.xaxis.title.text == "Predicted" and fig.layout.yaxis.title.text == "True"
    assert fig.layout.yaxis.autorange == "reversed"  # first true label on top


# -- shared rules ---------------------------------------------------------------------------------

def all_figures(runs, steps, evals):
    return {
        "score": charts.score_vs_params(runs), "throughput": charts.throughput(runs),
"memory": charts.memory_and_time(runs),
        "loss": charts.loss_curves(steps, runs), "eval": charts.eval_curves(evals, "accuracy", runs),
        "confusion": charts.confusion_heatmap([[1, 2], [3, 4]], ["a", "b"]),
    }


def test_empty_inputs_give_the_empty_figure(runs):
    only_failed = runs[runs["status"] != "succeeded"]
    empties = [
        charts.score_vs_params(pd.DataFrame()), charts.score_vs_params(None), charts.score_vs_params(only_failed),
        charts.throughput(pd.DataFrame()), charts.throughput(only_failed), 
        charts.memory_and_time(pd.DataFrame()), charts.memory_and_time(only_failed),
        charts.loss_curves(pd.DataFrame(columns=["run_id", "step", "loss"])), charts.loss_curves(None),
        charts.eval_curves(pd.DataFrame(columns=["run_id", "step", "split", "eval_samples_per_s"]), "accuracy"),
        charts.confusion_heatmap([], []), charts.confusion_heatmap(None, None),
    ]
    for fig in empties:
        assert fig.layout.meta["empty"] is True and len(fig.data) == 0
        assert fig.layout.annotations[0].text == fig.layout.meta["message"]
    assert charts.aggregate_seeds(pd.DataFrame()).empty


def test_colours_and_symbols_stable_per_method(runs, steps, evals):
    figs = all_figures(runs, steps, evals)
    colour = {}
    for name in ("score", "throughput", "memory"):
        for trace in figs[name].data:
            if trace.name in {"full", "lora", "bitfit"}:
                assert colour.setdefault(trace.name, trace.marker.color) == trace.marker.color, (name, trace.name)
    assert figs["loss"].data[1].line.color == colour["lora"]
    assert len(set(colour.values())) == 3
    # Every known method has its own colour and its own symbol (colour is never the only cue).
    styles = [charts.method_style(m) for m in charts.KNOWN_METHODS]
    assert len({c for c, _ in styles}) == len(styles) and len({s for _, s in styles}) == len(styles)
    assert charts.method_style("my-method") == charts.method_style("my-method")  # stable for unknown names
    from ftlab import methods

    assert sorted(charts.KNOWN_METHODS) == sorted(m.name for m in methods.list_methods() if m.trains)


def test_readable_layout(runs, steps, evals):
    white = pio.templates["plotly_white"]
    for name, fig in all_figures(runs, steps, evals).items():
        assert fig.layout.template == white, name
        assert fig.layout.font.size >= 12, name
        assert fig.layout.title.text, name
        if fig.layout.showlegend is not False:  # legends sit outside the plot area
            legend = fig.layout.legend
            assert legend.x >= 1 or legend.y < 0, name


def test_store_shaped_frames():
    """Frames straight from a Store (nullable ints, pivoted evals) draw without conversion."""
    store_mod = pytest.importorskip("ftlab.store")
    with store_mod.Store() as store:
        for seed, acc in [(0, 0.7), (1, 0.8)]:
            rid = store.create_run({}, "h", model="m", dataset="d", task="classification", method="lora",
                                   seed=seed, versions={})
            store.record_event(rid, {"event": "started", "params": {"trainable_params": 1234, "total_params": 9999}})
            store.record_event(rid, {"event": "step", "step": 1, "loss": 1.0})
            store.record_event(rid, {"event": "eval", "step": 1, "split": "validation",
                                     "metrics": {"accuracy": acc}, "eval_samples_per_s": 50.0})
            store.record_event(rid, {"event": "finished", "summary": {"accuracy": acc, "wall_s": 3.0,
                                                                      "peak_memory_mb": 100.0}})
        store.create_run({}, "h", model="m", dataset="d", task="classification", method="ia3", seed=0, versions={})
        runs, steps, evals = store.runs_df(), store.steps_df(), store.evals_df()
    fig = charts.score_vs_params(runs)
    assert fig.layout.meta["n_points"] == 1 and by_name(fig, "lora").y[0] == pytest.approx(0.75)
    figs = all_figures(runs, steps, evals)
    for name in ("score", "memory", "loss", "eval", "confusion"):
        assert figs[name].layout.meta["empty"] is False, name
    assert charts.throughput(runs).layout.meta["empty"] is True  # no throughput recorded


def test_charts_import_no_heavy_modules():
    code = "import sys, ftlab.charts; print(sorted({'torch', 'gradio', 'duckdb', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- what the Compare tab says at a glance -------------------------------------------------------

def test_versus_full_states_score_lost_parameters_and_time_saved(runs):
    table = charts.versus_full(runs).set_index("method")
    assert list(table.index) == ["lora", "bitfit"]  # full is the reference, not a row
    lora = table.loc["lora"]
    assert lora["score"] == pytest.approx(0.79) and lora["score_delta"] == pytest.approx(-0.02)
    assert lora["params_ratio"] == pytest.approx(0.01)
    # wall_s is 10 x id: full runs 1, 2 -> 15 s; lora runs 3, 4 -> 35 s: lora took longer here
    assert lora["wall_s"] == pytest.approx(35.0) and lora["time_saved"] == pytest.approx(1 - 35 / 15)
    assert table.loc["bitfit", "score_delta"] == pytest.approx(0.72 - 0.81) and table.loc["bitfit", "n"] == 2
    assert charts.versus_full(runs[runs["method"] != "full"]).empty  # no full run: nothing to compare to


def test_one_seed_is_drawn_without_an_interval(runs):
    single = runs[runs["seed"] == 0]
    fig = charts.score_vs_params(single)
    for trace in fig.data:
        if trace.name in ("full", "lora", "bitfit"):
            assert trace.error_y.visible is False and "1 seed: no interval" in trace.hovertemplate
            assert "95% CI" not in trace.hovertemplate
    assert charts.score_vs_params(runs).data[0].error_y.visible is True  # two seeds: an interval
    bars = charts.memory_and_time(single)
    assert all(t.error_x.visible is False and all("1 seed" in c[0] for c in t.customdata) for t in bars.data)
    assert all(t.error_x.visible is False for t in charts.throughput(single).data)


def test_loss_curves_are_smoothed_by_default_and_raw_on_demand(steps, runs):
    raw = charts.loss_curves(steps, runs, smoothing=0)
    smooth = charts.loss_curves(steps, runs)
    assert list(raw.data[0].y) == pytest.approx([2.0 / s for s in range(1, 11)])
    assert smooth.layout.meta["smoothing"] == charts.LOSS_SMOOTHING and "moving average" in smooth.layout.title.text
    ys = list(smooth.data[0].y)
    assert ys[0] == pytest.approx(2.0)  # debiased: the first point is the first loss
    assert all(s > r for s, r in zip(ys[1:], raw.data[0].y[1:]))  # a falling loss: the average lags above it
    assert charts.ema([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        charts.loss_curves(steps, runs, smoothing=1.0)


def test_baselines_are_lines_on_the_score_chart_and_left_out_of_bars_and_versus_full():
    runs = pd.DataFrame([
        {"id": 1, "status": "succeeded", "model": "minilm", "dataset": "tweets", "task": "classification",
         "method": "full", "seed": 0, "accuracy": 0.71, "trainable_params": 22_000_000, "wall_s": 60.0,
         "peak_memory_mb": 1500.0, "train_samples_per_s": 40.0, "eval_samples_per_s": 200.0},
        {"id": 2, "status": "succeeded", "model": "minilm", "dataset": "tweets", "task": "classification",
         "method": "lora", "seed": 0, "accuracy": 0.70, "trainable_params": 75_000, "wall_s": 40.0,
         "peak_memory_mb": 1200.0, "train_samples_per_s": 60.0, "eval_samples_per_s": 200.0},
        {"id": 3, "status": "succeeded", "model": "minilm", "dataset": "tweets", "task": "classification",
         "method": "majority", "seed": 0, "accuracy": 0.425, "trainable_params": 0, "wall_s": 4.0,
         "peak_memory_mb": 600.0, "train_samples_per_s": None, "eval_samples_per_s": 900.0},
        {"id": 4, "status": "succeeded", "model": "minilm", "dataset": "tweets", "task": "classification",
         "method": "zero-shot", "seed": 0, "accuracy": 0.41, "trainable_params": 0, "wall_s": 5.0,
         "peak_memory_mb": 700.0, "train_samples_per_s": None, "eval_samples_per_s": 500.0},
    ])
    fig = charts.score_vs_params(runs)
    assert fig.layout.meta["baselines"] == ["majority class: 42.5%", "zero-shot: 41.0%"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sorted(round(s.y0, 3) for s in lines) == [0.41, 0.425]
    assert fig.layout.meta["n_points"] == 2  # full and lora; the baselines are lines, not points
    assert set(charts.versus_full(runs)["method"]) == {"lora"}
    assert charts.memory_and_time(runs).layout.meta["n_methods"] == 2
    assert charts.throughput(runs).layout.meta["n_methods"] == 2


def test_tuning_trials_stay_off_the_charts_and_tuned_runs_are_their_own_setting():
    row = {"status": "succeeded", "model": "m", "dataset": "d", "task": "classification", "method": "lora",
           "trainable_params": 1000}
    runs = pd.DataFrame([
        {**row, "id": 1, "seed": 0, "accuracy": 0.6, "config": {"method": "lora", "seed": 0}},
        {**row, "id": 2, "seed": 0, "accuracy": 0.2, "config": {"method": "lora", "seed": 0, "lr": 0.3, "tag": "trial"}},
        {**row, "id": 3, "seed": 0, "accuracy": 0.7, "config": {"method": "lora", "seed": 0, "lr": 0.0023456,
                                                                 "tag": "tuned", "checkpoint_every": "0"}},
        {**row, "id": 4, "seed": 1, "accuracy": 0.1, "config": json.dumps({"method": "lora", "seed": 1, "tag": "trial"})},
    ])
    agg = charts.aggregate_seeds(runs)
    assert sorted(agg["mean"]) == [0.6, 0.7]  # trials, dicts or JSON text, stay off
    assert sorted(agg["variant"]) == ["lr=default", "tuned: lr=0.00235"]


def test_learning_curve_draws_methods_at_two_or_more_sizes_with_bands_and_baselines():
    import json

    rows = []
    rid = 0
    for method, base in (("full", 0.5), ("lora", 0.45)):
        for size in (16, 64, 256):
            for seed in (0, 1):
                rid += 1
                rows.append({"id": rid, "status": "succeeded", "model": "minilm", "dataset": "d", "method": method,
                             "task": "classification", "seed": seed, "accuracy": base + size / 1000 + seed / 100,
                             "trainable_params": 1000, "dataset_sizes": json.dumps({"train": size}),
                             "config": {"method": method, "max_train": size, "balanced_train": True, "seed": seed,
                                        "lr": None},
                             "label_names": json.dumps(["a", "b"])})
    rows.append({"id": 90, "status": "succeeded", "model": "minilm", "dataset": "d", "method": "head", "seed": 0,
                 "task": "classification", "accuracy": 0.4, "trainable_params": 10,
                 "dataset_sizes": json.dumps({"train": 64}), "config": {"method": "head"}, "label_names": "[]"})
    rows.append({"id": 91, "status": "succeeded", "model": "minilm", "dataset": "d", "method": "zero-shot", "seed": 0,
                 "task": "classification", "accuracy": 0.3, "trainable_params": 0,
                 "dataset_sizes": json.dumps({"train": 64}), "config": {"method": "zero-shot"}, "label_names": "[]"})
    rows.append({"id": 92, "status": "succeeded", "model": "minilm", "dataset": "d", "method": "few-shot", "seed": 0,
                 "task": "classification", "accuracy": 0.35, "trainable_params": 0,
                 "dataset_sizes": json.dumps({"train": 64}),
                 "config": {"method": "few-shot", "method_options": {"shots": 4}}, "label_names": json.dumps(["a", "b"])})
    fig = charts.learning_curve(pd.DataFrame(rows))
    meta = fig.layout.meta
    assert meta["curves"] == ["full", "lora"]  # head ran at one size only: no curve
    assert meta["n_points"] == 6 and fig.layout.xaxis.type == "log"
    full = next(t for t in fig.data if t.name == "full")
    assert list(full.x) == [16, 64, 256] and list(full.y) == pytest.approx([0.521, 0.569, 0.761])
    assert sum(1 for t in fig.data if t.fill == "toself") == 2  # a seed band per curve
    shots = next(t for t in fig.data if t.name == "few-shot prompting")
    assert list(shots.x) == [8]  # 4 examples x 2 classes in the prompt
    assert any(label.startswith("zero-shot") for label in meta["baselines"])
    assert charts.learning_curve(pd.DataFrame(rows[:2])).layout.meta.get("n_points") is None  # one size: empty


def test_forgetting_chart_places_each_method_by_gain_and_forgetting():
    rows = [{"id": 1, "status": "succeeded", "model": "minilm", "dataset": "movies", "method": "full", "seed": 0,
             "task": "classification", "accuracy": 0.8, "init_from": None, "forgetting": None, "new_task_gain": None}]
    for i, (method, forget, gain) in enumerate([("full", 0.10, 0.20), ("full", 0.14, 0.22), ("lora", 0.02, 0.15)]):
        rows.append({"id": 10 + i, "status": "succeeded", "model": "minilm", "dataset": "products", "method": method,
                     "seed": i, "task": "classification", "accuracy": 0.7, "init_from": 1, "forgetting": forget,
                     "new_task_gain": gain})
    fig = charts.forgetting(pd.DataFrame(rows))
    assert fig.layout.meta["labels"] == ["full", "lora"]
    full = next(t for t in fig.data if t.name == "full")
    # in points, as the axes are titled: 12 points lost, 21 won
    assert full.x[0] == pytest.approx(12.0) and full.y[0] == pytest.approx(21.0) and full.error_x.visible
    assert fig.layout.xaxis.tickformat == "+.1f"
    assert charts.forgetting(pd.DataFrame(rows[:1])).layout.meta.get("n_points") is None


def test_a_percent_axis_keeps_distinct_ticks_and_a_sane_range_for_one_point():
    from plotly import graph_objects as go

    from ftlab.charts.style import fraction_ticks

    close = fraction_ticks(go.Figure(), [0.695, 0.70, 0.702])
    assert close.layout.yaxis.tickformat == ".1%"  # not "70% 70% 69%"
    one = fraction_ticks(go.Figure(), [0.7]).layout.yaxis
    assert one.range == pytest.approx((0.64, 0.76)) and one.tickformat == ".1%"
    wide = fraction_ticks(go.Figure(), [0.2, 0.98]).layout.yaxis
    assert wide.tickformat == ".0%" and wide.range[0] >= 0 and wide.range[1] <= 1.0


def test_a_refresh_parses_each_stored_config_once(monkeypatch):
    """Compare prepares its runs once (each config's JSON parsed and flattened); every figure and the
    aggregates then read the parsed configs and give what they give on the raw frame."""
    from ftlab.charts import settings

    def cfg(max_train, seed, tag=None):
        return json.dumps({"method": "lora", "max_train": max_train, "seed": seed, "tag": tag,
                           "method_options": {"r": 8}})
    frame = pd.DataFrame([
        run(1, "lora", 0, 0.70, 10_000, config=cfg(2000, 0), dataset_sizes='{"train": 2000}'),
        run(2, "lora", 1, 0.72, 10_000, config=cfg(2000, 1), dataset_sizes='{"train": 2000}'),
        run(3, "lora", 0, 0.60, 10_000, config=cfg(500, 0), dataset_sizes='{"train": 500}'),
        run(4, "lora", 0, 0.10, 10_000, config=cfg(500, 0, tag="trial"), dataset_sizes='{"train": 500}'),
    ])
    raw = charts.aggregate_seeds(frame, "accuracy")
    calls = []
    real = settings.flat_config
    monkeypatch.setattr(settings, "flat_config", lambda c: (calls.append(c) if isinstance(c, str) else None) or real(c))
    ready = charts.prepared(frame)
    assert len(calls) == 4 and charts.prepared(ready) is ready
    calls.clear()
    pd.testing.assert_frame_equal(charts.aggregate_seeds(ready, "accuracy"), raw)
    for draw in (charts.score_vs_params, charts.learning_curve, charts.throughput, charts.memory_and_time,
                 charts.versus_full, charts.verdicts, charts.curve_points):
        draw(ready)
    assert calls == []
    assert sorted(raw["budget"]) == [500, 2000] and raw["n_runs"].sum() == 3  # the trial run is left out


def test_hover_text_is_in_the_pages_language(runs):
    from ftlab import text

    single = runs[runs["seed"] == 0]
    with text.using("zh"):
        bars = charts.memory_and_time(single)
        spread = charts.memory_and_time(runs)
    assert all("1 个种子" in c[0] for t in bars.data for c in t.customdata)
    assert any("标准差" in c[0] for t in spread.data for c in t.customdata)
