"""Verdicts: Welch's t-test against hand computations, and the sentences the Compare tab shows."""

import math

import pandas as pd
import pytest

from ftlab import charts, stats
from ftlab.ui.logic.compare import verdicts_markdown


def welch_by_hand(a, b):
    """mean gap, Welch-Satterthwaite df, standard error: the textbook formulas."""
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    se2 = va / len(a) + vb / len(b)
    df = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    return ma - mb, df, math.sqrt(se2)


def test_difference_matches_welch_by_hand():
    from scipy.stats import t

    a, b = [0.70, 0.72, 0.69], [0.712, 0.705, 0.72]
    delta, df, se = welch_by_hand(a, b)
    assert 2 < df < 3  # unequal spreads: fewer degrees of freedom than the pooled test's 4
    d = stats.difference(a, b)
    assert d.delta == pytest.approx(delta)
    assert (d.low + d.high) / 2 == pytest.approx(delta)
    assert (d.high - d.low) / 2 == pytest.approx(t.ppf(0.975, df) * se)
    assert stats.t_quantile(3) * se < (d.high - d.low) / 2 < stats.t_quantile(2) * se
    assert not d.distinguishable and d.p_value > 0.05


def test_a_clear_gap_is_distinguishable_and_says_which_side():
    d = stats.difference([0.80, 0.81, 0.79], [0.70, 0.71, 0.69])
    assert d.distinguishable and d.low > 0 and d.p_value < 0.001
    text = stats.verdict_text("lora", "full", d)
    assert text.startswith("lora vs full: +10.0 points (")
    assert "3 seeds each: better than full beyond seed noise (p < 0.001)" in text
    worse = stats.verdict_text("ia3", "full", stats.difference([0.60, 0.62], [0.70, 0.71, 0.69]))
    assert "2 and 3 seeds" in worse and "worse than full" in worse


def test_identical_seeds_and_too_few_seeds():
    same = stats.difference([0.5, 0.5], [0.5, 0.5])
    assert (same.delta, same.low, same.high, same.distinguishable) == (0, 0, 0, False)
    assert stats.difference([0.6, 0.6], [0.5, 0.5]).distinguishable
    with pytest.raises(ValueError, match="2 or more"):
        stats.difference([0.5], [0.4, 0.6])


def _runs(rows):
    return pd.DataFrame([{"id": i, "status": "succeeded", "model": "minilm", "dataset": "tweets",
                          "task": "classification", "trainable_params": 1000 if m != "full" else 10**7,
                          "config": {"method": m, "seed": s, **extra}, "method": m, "seed": s, "accuracy": acc}
                         for i, (m, s, acc, extra) in enumerate(rows, 1)])


def test_verdicts_compare_each_setting_with_full_and_never_pool_budgets():
    runs = _runs([("full", 0, 0.71, {}), ("full", 1, 0.72, {}), ("full", 2, 0.70, {}),
                  ("lora", 0, 0.70, {}), ("lora", 1, 0.715, {}), ("lora", 2, 0.705, {}),
                  ("lora", 0, 0.60, {"max_train": 200}), ("lora", 1, 0.61, {"max_train": 200}),
                  ("ia3", 0, 0.65, {}),  # one seed: no verdict
                  ("majority", 0, 0.42, {}), ("majority", 1, 0.42, {})])  # a baseline: a line, not a verdict
    found = charts.verdicts(runs)
    # lora on 200 examples has no full run on 200 examples to be set against: no verdict for it
    assert [(v["a"], v["b"]) for v in found] == [("lora (all examples)", "full (all examples)")]
    assert not found[0]["difference"].distinguishable
    md = verdicts_markdown(runs)
    assert "not distinguishable from seed noise" in md and "beyond seed noise" not in md and "200" not in md
    assert "ia3" not in md and "majority" not in md
    assert "2 or more seeds" in verdicts_markdown(_runs([("full", 0, 0.7, {}), ("lora", 0, 0.7, {})]))


def test_without_full_the_best_setting_is_the_reference():
    runs = _runs([("lora", 0, 0.70, {}), ("lora", 1, 0.71, {}), ("ia3", 0, 0.60, {}), ("ia3", 1, 0.62, {})])
    (only,) = charts.verdicts(runs)
    assert (only["a"], only["b"]) == ("ia3", "lora")
