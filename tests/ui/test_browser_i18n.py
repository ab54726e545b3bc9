"""The dashboard in Chinese: a browser whose language is Chinese gets Chinese tab names, labels
and chart titles; the header's switch turns the page English, and a reload keeps it English."""

import re
import pytest
from browser_kit import VIEWPORT, dashboard, require_browser, shot, wait_for

sync_api = require_browser()
expect = sync_api.expect


@pytest.fixture(scope="module")
def runs_db(tmp_path_factory, keyword_csv):
    from ftlab import service
    from ftlab.config import RunConfig
    from ftlab.store import Store

    db = str(tmp_path_factory.mktemp("i18n") / "i18n.duckdb")
    with Store(db) as store:
        for method in ("full", "lora"):
            _, _, err = service.train_now(RunConfig(model="tiny", dataset=keyword_csv, method=method, max_train=64,
                                                    max_eval=32, batch_size=16, max_steps=3), store, db_path=db)
            assert err is None
    return db


def _tabs(page) -> list[str]:
    return [b.inner_text().strip() for b in page.locator('button[role="tab"]').all()]


def _axis_title(page, elem_id: str, axis: str = "y") -> str:
    return page.evaluate("([id, axis]) => { const d = document.querySelector(`#${id} .js-plotly-plot`);"
                         " const a = d && d.layout && d.layout[axis + 'axis']; return a && a.title ? a.title.text : ''; }",
                         [elem_id, axis]) or ""


@pytest.mark.timeout(300)
def test_chinese_page_switches_to_english_and_stays(runs_db, browser):
    with dashboard(runs_db, start_scheduler=False) as (url, _lab):
        context = browser.new_context(locale="zh-CN", viewport=VIEWPORT)
        page = context.new_page()
        crashes: list[str] = []
        page.on("pageerror", lambda err: crashes.append(str(err)))
        page.goto(url)
        page.wait_for_selector("#launch-queue")
        assert _tabs(page) == ["启动", "队列", "对比", "运行详情", "试用"]
        expect(page.locator("#launch-model")).to_contain_text("基础模型")
        expect(page.locator("#launch-queue")).to_have_text(re.compile(r"^\s*加入队列：3 次运行( \+ [1-9]\d* 次基线)?\s*$"))  # built per request, in Chinese
        expect(page.locator("#header")).to_contain_text("微调实验室")
        wait_for(lambda: "训练" in page.locator("#launch-card").inner_text(), 60, "the dataset card in Chinese")
        expect(page.locator("#language input:checked")).to_have_value("zh")
        shot(page, "launch-zh")

        page.get_by_role("tab", name="对比", exact=True).click()
        title = wait_for(lambda: _axis_title(page, "compare-score"), 60, "the score chart")
        assert "准确率" in title and "Test" not in title
        assert _axis_title(page, "compare-score", "x") == "可训练参数量（对数刻度）"
        expect(page.locator("#compare-caption")).to_contain_text("显示")
        shot(page, "compare-zh")

        page.locator("#language label").filter(has_text="English").click()  # switches and reloads
        expect(page.get_by_role("tab", name="Compare", exact=True)).to_be_visible(timeout=60_000)
        page.reload()  # the address keeps the open tab (Compare); the browser keeps the language
        expect(page.get_by_role("tab", name="Compare", exact=True)).to_be_visible(timeout=60_000)
        assert _tabs(page) == ["Launch", "Queue", "Compare", "Run", "Playground"]
        expect(page.locator("#language input:checked")).to_have_value("en")
        wait_for(lambda: _axis_title(page, "compare-score").startswith("Test accuracy"), 60, "an English chart")
        expect(page.locator("#compare-caption")).to_contain_text("run(s) shown")
        page.get_by_role("tab", name="Launch", exact=True).click()
        expect(page.locator("#launch-queue")).to_have_text(re.compile(r"^\s*Queue 3 runs( \+ [1-9]\d* baseline\(s\))?\s*$"))
        assert not crashes, crashes
        context.close()
