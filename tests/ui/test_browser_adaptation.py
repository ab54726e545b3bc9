"""The adaptation map in a real browser: a learning curve and continual runs on Compare, the
lineage and "Continue from this run" on the Run tab, the sizes box on Launch.

The database is filled first with tiny-model runs (head at two sizes and two seeds, a zero-shot
baseline, a full run continued on a second dataset), then the dashboard is served over it."""

import re
import pytest
from browser_kit import VIEWPORT, dashboard, fill, open_tab, plot_meta, require_browser, shot, wait_for

from hub_stub import FakeHub, hub_api
from keyword_data import write_keyword_csv

sync_api = require_browser()
expect = sync_api.expect


@pytest.fixture(scope="module")
def filled(tmp_path_factory, keyword_csv):
    from ftlab import service
    from ftlab.config import RunConfig
    from ftlab.experiments import new_experiment
    from ftlab.store import Store

    folder = tmp_path_factory.mktemp("adaptation")
    second = write_keyword_csv(folder / "second.csv", {"good": "superb", "bad": "awful", "meh": "fine"}, 200, 2)
    db = str(folder / "adapt.duckdb")
    base = dict(model="tiny", max_eval=40, batch_size=16, epochs=2)
    ids = {}
    # one experiment, as an experiment file trains them: Compare opens on it whole
    made = new_experiment([RunConfig(dataset=keyword_csv, method="head", **base)], kind="file", name="adaptation map")

    def train_now(config, store, db_path):
        return service.train_now(config, store, db_path=db_path, experiment=made)

    with Store(db) as store:
        for size in (16, 64):
            for seed in (0, 1):
                train_now(RunConfig(dataset=keyword_csv, method="head", max_train=size, balanced_train=True,
                                            seed=seed, **base), store, db_path=db)
        train_now(RunConfig(dataset=keyword_csv, method="zero-shot", max_train=64, balanced_train=True,
                                    **base), store, db_path=db)
        ids["parent"], _, err = train_now(RunConfig(dataset=keyword_csv, method="full", max_train=120, lr=3e-3,
                                                            **base), store, db_path=db)
        assert err is None
        ids["child"], _, err = train_now(RunConfig(dataset=str(second), method="full", max_train=120, lr=3e-3,
                                                           init_from=ids["parent"], **base), store, db_path=db)
        assert err is None
    return db, ids, str(second)


@pytest.mark.timeout(600)
def test_curve_forgetting_lineage_and_continue(filled, browser, monkeypatch):
    db, ids, second = filled
    hub = FakeHub()
    with hub_api(hub.get, hub.post) as (hub_url, _), dashboard(db, start_scheduler=False) as (url, _lab):
        hub.url = hub_url
        monkeypatch.setenv("HF_ENDPOINT", hub_url)
        monkeypatch.setenv("HF_TOKEN", "hf_test")  # locally a push uses the machine's login
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        page = browser.new_page(viewport=VIEWPORT)
        crashes: list[str] = []
        page.on("pageerror", lambda err: crashes.append(str(err)))
        page.goto(url)
        page.wait_for_selector("#launch-queue")

        # Launch: two sizes multiply the grid
        fill(page, "launch-train-sizes", "16, 64")
        expect(page.locator("#launch-queue")).to_have_text(re.compile(r"^\s*Queue 6 runs( \+ [1-9]\d* baseline\(s\))?\s*$"))

        # Compare: the learning curve and the forgetting chart appear, drawn from the runs
        open_tab(page, "Compare")
        curve = wait_for(lambda: plot_meta(page, "compare-curve"), 60, "the learning curve")
        assert curve["meta"]["curves"] == ["head"] and any(b.startswith("zero-shot") for b in curve["meta"]["baselines"])
        assert sorted(set(x for xs in curve["xs"] for x in xs if isinstance(x, (int, float))) & {16, 64}) == [16, 64]
        forgot = wait_for(lambda: plot_meta(page, "compare-forgetting"), 30, "the forgetting chart")
        assert forgot["meta"]["labels"] == ["full"]
        page.locator("#compare-curve").scroll_into_view_if_needed()
        shot(page, "compare-adaptation")

        # Run: the continued run's lineage and scores on both tasks; continue it again
        open_tab(page, "Run")
        page.locator("#run-picker input").first.click()
        page.get_by_role("option").filter(has_text=f"#{ids['child']} ").first.click()
        expect(page.locator("#run-lineage")).to_contain_text(f"#{ids['parent']} on", timeout=30_000)
        expect(page.locator("#run-lineage")).to_contain_text(f"#{ids['child']} on")
        expect(page.locator("#run-summary")).to_contain_text("forgetting (points lost)")
        box = page.locator("#run-continue-data input").first
        box.fill("tweets-sentiment")
        box.press("Enter")
        page.locator("#run-continue").click()
        expect(page.locator("#run-action")).to_contain_text("same label names", timeout=60_000)

        # Export the run as a plain transformers folder: a zip to download
        page.locator("#run-export").click()
        expect(page.locator("#run-action")).to_contain_text("Exported run", timeout=60_000)
        expect(page.locator("#run-download-file")).to_contain_text(f"ftlab-run-{ids['child']}-merged")

        # Push the same export to a (stub) Hub repo
        fill(page, "run-push-repo", "alice/continued")
        page.locator("#run-push").click()
        expect(page.locator("#run-action")).to_contain_text(f"Pushed run {ids['child']} (merged) to", timeout=60_000)
        assert [c["repo"] for c in hub.commits] == ["alice/continued"] and "README.md" in hub.commits[0]["files"]
        assert not crashes, crashes
