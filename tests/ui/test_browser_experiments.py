"""A lab in use, in a real browser: a default grid, a tuning study, a learning curve and a
continuation on the tiny model (queued through the service, trained by the dashboard's own queue),
then Compare and the Run picker as a user sees them.

Compare opens on the latest experiment (the continuation) only; with every experiment chosen, each
"against full fine-tuning" row sets a method against the full run of its own budget, the group
without a full run is named as such, and the Run picker tells every run apart.
"""

import re

import pytest
from browser_kit import VIEWPORT, dashboard, open_tab, plot_meta, require_browser, wait_for
from keyword_data import write_keyword_csv

from ftlab.config import RunConfig

sync_api = require_browser()
expect = sync_api.expect

SECOND_TASK = {"good": "superb", "bad": "awful", "meh": "fine"}  # same labels, other keywords


def _all_done(lab) -> bool:
    studies = lab.studies()
    return (all(j["status"] in ("succeeded", "failed", "canceled", "pruned") for j in lab.jobs())
            and all(st["status"] != "running" for st in studies))


@pytest.mark.timeout(900)
def test_grid_tuning_curve_and_continuation_are_four_experiments(browser, keyword_csv, tmp_path):
    second = write_keyword_csv(tmp_path / "second.csv", SECOND_TASK, n=300, seed=1)
    # two jobs at a time, each in a worker started ahead of its job: fifteen short jobs
    with dashboard(tmp_path / "lab.duckdb", start_scheduler=True, cpu_slots=2, spare_workers=True) as (url, lab):
        base = RunConfig(model="tiny", dataset=keyword_csv, max_train=64, max_eval=30, batch_size=16, max_steps=4,
                         lr=3e-3)
        lab.submit([base.replace(method=m) for m in ("head", "lora")], baselines=True)  # the default grid
        lab.tune(base.replace(method="lora"), ["lora"], trials=2, seeds=1, baselines=False)
        # the curve: full at two sizes and the head at a second one (head on 64 examples is the grid's)
        lab.submit([base.replace(method="full", max_train=n) for n in (32, 64)] + [base.replace(method="head", max_train=32)])
        wait_for(lambda: _all_done(lab), 600, "the grid, the study and the curve", poll=3)
        parent = next(r for r in lab.runs(method="lora") if not (r["config"] or {}).get("tag"))
        lab.continue_run(parent["id"], second)
        wait_for(lambda: _all_done(lab), 300, "the continuation", poll=3)
        runs = lab.runs()
        assert {r["status"] for r in runs} == {"succeeded"}, [(r["id"], r["status"], r["error"]) for r in runs]
        assert len(lab.experiments()) == 4

        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url + "?tab=compare")
        # the default view: the latest experiment, the continuation, and nothing else
        caption = page.locator("#compare-caption")
        expect(caption).to_contain_text("second.csv", timeout=90_000)
        expect(caption).to_contain_text("3 run(s) shown")  # the continued run and its data's two baselines
        meta = wait_for(lambda: (m := plot_meta(page, "compare-score")) and m["meta"] and m["meta"].get("n_points")
                        and m, 60, "the score chart")
        assert meta["meta"]["n_points"] == 1 and meta["meta"]["labels"] == ["lora"]

        # every experiment: clear the picker (empty = every run)
        page.locator("#compare-experiment .token-remove").first.click()
        page.locator("#compare-refresh").click()
        expect(caption).to_contain_text(f"{len(runs)} run(s) shown", timeout=60_000)
        versus = page.locator("#compare-versus-full")
        expect(versus).to_contain_text("Against full fine-tuning", timeout=60_000)
        text = versus.inner_text()
        rows = [ln for ln in text.splitlines() if re.search(r"\d+ examples", ln) and "%" in ln]
        assert rows, text
        full_budgets = {f"{r['config']['max_train']} examples" for r in runs if r["method"] == "full"}
        for row in rows:  # each row names its group: its budget is one a full run was trained on
            (budget,) = re.findall(r"\d+ examples", row)
            assert budget in full_budgets, row
        assert any("32 examples" in row and row.strip().startswith("head") for row in rows)
        assert "No full fine-tuning run to compare against in" in text and "second.csv" in text

        # the Run picker: every run named apart from the others
        open_tab(page, "Run")
        page.locator("#run-picker input").click()
        options = page.get_by_role("option")
        expect(options.first).to_be_visible(timeout=30_000)
        labels = options.all_inner_texts()
        assert len(labels) == len(runs) and len(set(labels)) == len(labels), labels
        assert any("(trial" in label for label in labels) and any("(tuned" in label for label in labels)
        page.close()
