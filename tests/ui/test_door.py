"""The Queue button refuses at the door what cannot run: the command line's bad-input matrix
(tests/bad_inputs.py), typed into the Launch tab as a person would, queues nothing and shows one
line (Debian's chromium through Playwright)."""

import os
from pathlib import Path

import pytest
from bad_inputs import BAD_INPUTS, bad_files
from browser_kit import CHROMIUM, VIEWPORT, dashboard, fill, pick

if not Path(CHROMIUM).exists():
    pytest.skip(f"browser test needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test needs playwright: pip install playwright==1.65.2")
expect = sync_api.expect

# How a flag is entered on the page: (elem_id, how). A method the checkboxes do not offer and a
# word in a number box cannot be entered there at all.
FIELDS = {"--dataset": ("launch-dataset", "pick"), "--model": ("launch-model", "pick"),
          "--text-column": ("launch-text_column", "fill"), "--label-column": ("launch-label_column", "fill"),
          "--batch-size": ("launch-batch-size", "fill"), "--opt": ("launch-opts-lora", "fill"),
          "--method": ("launch-methods", "check")}
ENTERABLE = [(flags, needle) for flags, needle in BAD_INPUTS
             if flags[0] in FIELDS and flags[1:2] != ["lorra"] and flags[0] != "--epochs"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    saved = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # a Hub id is refused at once, the same way on every machine
    try:
        with dashboard(tmp_path_factory.mktemp("door") / "door.duckdb") as served:
            yield served
    finally:
        if saved is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved


@pytest.mark.timeout(600)
def test_the_queue_button_refuses_every_bad_input_in_one_line(served, browser, tmp_path):
    url, lab = served
    d = bad_files(tmp_path)
    page = browser.new_page(viewport=VIEWPORT)
    assert len(ENTERABLE) >= 14
    for flags, needle in ENTERABLE:
        page.goto(url)
        page.wait_for_selector("#launch-queue")
        pick(page, "launch-model", "tiny")
        for flag, value in zip(flags[::2], flags[1::2]):
            value = value.format(d=d)
            elem_id, how = FIELDS[flag]
            if flag in ("--text-column", "--label-column"):
                accordion = page.get_by_text("Columns and encoding", exact=True)
                if not page.locator(f"#{elem_id}").is_visible():
                    accordion.click()
            if how == "pick":
                pick(page, elem_id, value)
            elif how == "check":
                page.locator(f"#{elem_id}").get_by_label(value, exact=True).check()
            else:
                fill(page, elem_id, value)
        page.locator("#launch-queue").click()
        status = page.locator("#launch-status")
        expect(status).to_contain_text("Nothing was queued", timeout=60_000)
        text = status.inner_text()
        assert needle.format(d=d) in text, (flags, text)
        assert "Traceback" not in text and "--" not in text.replace("--opt", ""), (flags, text)
        assert lab.jobs() == [], flags
    page.close()
