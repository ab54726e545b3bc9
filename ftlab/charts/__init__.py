"""Charts for the dashboard's Compare and Run tabs: pure functions, DataFrame in, Figure out.

Inputs are the frames `ftlab.store.Store` returns (`runs_df`, `steps_df`, `evals_df`) and a
run's confusion matrix. Nothing here does I/O or imports torch/gradio, so the UI, the CLI and
the tests can all call these directly. When there is nothing to draw (no rows, no succeeded
runs) every function returns `empty_figure(message)` instead of raising: a dashboard tab must
render on an empty database.

The rooms, each importing only the ones above it:
- `style`: one colour AND one marker symbol per method (`method_style`), from the colour-blind-safe
  Okabe-Ito palette extended with Plotly's "Safe" palette (14+ methods need more than 8 colours,
  and the symbol keeps methods apart where colours are hard to tell apart); metric titles; the
  layout; the empty figure; figures built from plain dicts without Plotly's per-property validation
  (what keeps a refresh over thousands of runs cheap);
- `settings`: stored configs parsed once per refresh (`prepared`), comparable groups (`GROUP`:
  model x dataset x budget), a method's variants within a group, their labels and a run's name
  (`run_name`: "lora (tuned, 256 examples)");
- `aggregate`: the numbers (seeds per setting with 95% intervals from ftlab.stats, against full
  fine-tuning, verdicts and the Pareto frontier, each within one comparable group; learning-curve
  points), computed once per frame;
- `compare` and `run`: the figures of each tab.

Conventions, kept across every chart so the tabs read as one: scores are fractions in the data and
shown as % on the axis (at least 10 points of range, so ticks differ); runs of different comparable
groups are never on one axis (the score chart draws a panel per group); `layout.meta` is a dict describing what was drawn (counts, frontier
members), for tests and for the UI's captions.

May import pandas, numpy, plotly, ftlab.text, ftlab.stats, ftlab.tasks, ftlab.config and ftlab.methods;
never gradio, torch, the service or the UI.
"""

from ftlab.charts.aggregate import (PUBLISHED_REFERENCES, RESOURCE_COLUMNS, aggregate_seeds, baseline_methods,
                                    curve_points, groups_without_full, pareto_frontier, references_for, score_metric,
                                    score_name,
                                    verdict_count, verdicts, versus_full)
from ftlab.charts.compare import forgetting, general_forgetting, learning_curve, memory_and_time, score_vs_params, \
    throughput
from ftlab.charts.run import LOSS_SMOOTHING, confusion_heatmap, ema, eval_curves, loss_curves
from ftlab.charts.settings import FLAT, GROUP, budget_text, flat_config, flat_configs, group_title, prepared
from ftlab.charts.style import (FRACTION_METRICS, KNOWN_METHODS, METRIC_TITLES, PALETTE, SYMBOLS, empty_figure,
                                method_style)

__all__ = ["PUBLISHED_REFERENCES", "RESOURCE_COLUMNS", "aggregate_seeds", "baseline_methods", "curve_points",
           "pareto_frontier", "references_for", "groups_without_full", "GROUP", "budget_text", "group_title", "score_metric", "score_name", "verdict_count", "verdicts", "versus_full",
           "forgetting", "general_forgetting", "learning_curve", "memory_and_time", "score_vs_params", "throughput", "LOSS_SMOOTHING",
           "confusion_heatmap", "ema", "eval_curves", "loss_curves", "FLAT", "flat_config", "flat_configs", "prepared",
           "FRACTION_METRICS", "KNOWN_METHODS", "METRIC_TITLES", "PALETTE", "SYMBOLS", "empty_figure", "method_style"]
