"""Figure sizing shared by the tabs that draw (ftlab/ui/common.py)."""

import pandas as pd

from ftlab.ui.common import sized


def test_long_axis_titles_are_wrapped_to_fit_the_chart():
    from ftlab import charts

    steps = pd.DataFrame({"run_id": [1, 1], "step": [1, 2], "loss": [1.0, 0.5]})
    fig = sized(charts.loss_curves(steps), 400)
    assert fig.layout.height == 400
    assert all(len(line) <= 28 for line in fig.layout.yaxis.title.text.split("<br>"))
    assert fig.layout.xaxis.title.text == "Optimizer step"


def test_score_axis_stays_within_0_and_100_percent():
    """The score chart fixes its own axes (charts.style.clamped_range, decades)."""
    from ftlab import charts

    runs = pd.DataFrame({"id": [1, 2, 3, 4], "status": ["succeeded"] * 4, "model": ["tiny"] * 4,
                         "dataset": ["d"] * 4, "task": ["classification"] * 4, "method": ["head", "head", "lora", "lora"],
                         "seed": [0, 1, 0, 1], "accuracy": [0.30, 0.45, 0.40, 0.41], "trainable_params": [195, 195, 4291, 4291]})
    fig = charts.score_vs_params(runs)
    low, high = fig.layout.yaxis.range
    assert (low, high) == (-0.03, 1.03)  # head's 2-seed interval spans far past both ends
    tight = runs.assign(accuracy=[0.80, 0.80, 0.90, 0.90])  # no spread: the range hugs the points
    low, high = charts.score_vs_params(tight).layout.yaxis.range
    assert 0.7 < low < 0.8 and 0.9 < high < 1.0
    assert min(0.80 - low, high - 0.90) / (high - low) >= 0.08  # the end markers are not cut by the frame
    # a baseline far below the points widens the range: its line is the score to beat
    base = pd.DataFrame({"id": [5], "status": ["succeeded"], "model": ["tiny"], "dataset": ["d"],
                         "task": ["classification"], "method": ["majority"], "seed": [0], "accuracy": [0.42],
                         "trainable_params": [0]})
    low, high = charts.score_vs_params(pd.concat([tight, base])).layout.yaxis.range
    assert low < 0.42 < 0.90 < high
    empty = charts.score_vs_params(None)
    assert empty.layout.yaxis.range is None
    # the log x axis spans whole decades: 195 and 4,291 parameters -> 100 to 10k
    assert charts.score_vs_params(runs).layout.xaxis.range == (2, 4)
    assert charts.loss_curves(None).layout.xaxis.range is None
