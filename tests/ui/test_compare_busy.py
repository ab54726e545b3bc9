"""Compare over a lab in use: four experiments, 50+ runs (benchmarks/busy_db.py writes them
through the store). Every chart draws, settings are told apart, and nothing is compared across
budgets; the default view is the latest experiment alone."""

import importlib.util
import re
from pathlib import Path

import gradio as gr
import pytest

from ftlab.service import Lab
from ftlab.ui import compare

BUSY = Path(__file__).parents[2] / "benchmarks" / "busy_db.py"


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("busy_db", BUSY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    db = tmp_path_factory.mktemp("busy") / "busy.duckdb"
    assert module.write_busy_db(db) >= 50
    return str(db)


def test_every_chart_of_a_busy_lab_draws_and_tells_its_settings_apart(busy):
    with Lab(busy, start_scheduler=False) as lab, gr.Blocks():
        ui = compare.build(lab)
        latest = ui.refresh(["latest"], None, None, None, ["succeeded"])
        everything = ui.refresh([], None, None, None, ["succeeded"])
        experiments = lab.experiments()
    assert len(experiments) == 4

    def figure(out, name):
        (fig,) = [v.get("value", v) if isinstance(v, dict) else v for k, v in out.items()
                  if getattr(k, "elem_id", None) == f"compare-{name}"]
        return fig

    def text(out, elem_id):
        (value,) = [v for k, v in out.items() if getattr(k, "elem_id", None) == elem_id]
        return value

    # the default view: the continuation alone (two runs on another dataset, their group without a full run)
    assert figure(latest, "score").layout.meta["n_points"] == 2
    assert experiments[0]["name"] in text(latest, "compare-caption")
    for name in compare.CHARTS:  # every chart draws something with every experiment chosen
        if name == "general":  # generative runs' forgetting: this lab classifies (tests/sft, the browser test)
            assert figure(everything, name).layout.meta.get("empty")
            continue
        assert not figure(everything, name).layout.meta.get("empty"), name
    score = figure(everything, "score").layout.meta
    assert len(score["groups"]) == 5  # 2,000 / 1,000 / 256 / 64 examples on tweets, 2,000 on products
    for name in ("throughput", "memory"):
        labels = figure(everything, name).layout.meta["labels"]
        assert len(labels) == len(set(labels)), name  # each bar names its own setting
    versus = text(everything, "compare-versus-full")
    rows = [ln for ln in versus.splitlines() if ln.startswith("| ") and "examples" in ln]
    # full fine-tuning ran on 2,000 examples only (tweets, and products for the continuation): every
    # method is set against it at that budget, never a 64- or 256-example run
    assert len(rows) == 5 and all(re.findall(r"\d[\d,]* examples", row) == ["2,000 examples"] for row in rows), rows
    lonely = versus.split("No full fine-tuning run to compare against in:")[1]
    assert all(f"{n} examples" in lonely for n in ("64", "256", "1,000"))  # the groups without one, named
