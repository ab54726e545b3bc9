"""The Queue button refuses at the door what cannot run: the command line's bad-input matrix
(tests/bad_inputs.py), entered in the Launch form, queues nothing and shows one line naming the
field on the page. Every case goes through the form's logic and the service (build_grid, then
submit_grid with Lab.submit); two of them are typed into the page as a person would (Debian's
chromium through Playwright), so the widgets' wiring is covered once."""

import os
from pathlib import Path

import pytest
from bad_inputs import BAD_INPUTS, bad_files
from browser_kit import CHROMIUM, VIEWPORT, dashboard, fill, pick

from ftlab.service import Lab
from ftlab.ui.logic import launch as launch_logic

# How a flag is entered on the page: (elem_id, how). A method the checkboxes do not offer and a
# word in a number box cannot be entered there at all.
FIELDS = {"--dataset": ("launch-dataset", "pick"), "--model": ("launch-model", "pick"),
          "--text-column": ("launch-text_column", "fill"), "--label-column": ("launch-label_column", "fill"),
          "--batch-size": ("launch-batch-size", "fill"), "--opt": ("launch-opts-lora", "fill"),
          "--method": ("launch-methods", "check")}
ENTERABLE = [(flags, needle) for flags, needle in BAD_INPUTS
             if flags[0] in FIELDS and flags[1:2] != ["lorra"] and flags[0] != "--epochs"]
IN_THE_BROWSER = [(["--dataset", "{d}/cols.csv", "--text-column", "review", "--label-column", "nope"], "nope"),
                  (["--method", "lora", "--opt", "rank=4"], "rank")]


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a Hub id is refused at once, the same way on every machine


def form(flags: list[str], d) -> dict:
    """The Launch form's values for `flags`: the tiny model, LoRA, tweets, unless the flags say otherwise."""
    values = {"model": "tiny", "dataset": "tweets-sentiment", "methods": ["lora"], "option_texts": {},
              "seeds": 1, "training": {}}
    for flag, value in zip(flags[::2], flags[1::2]):
        value = value.format(d=d)
        if flag in ("--dataset", "--model"):
            values[flag[2:]] = value
        elif flag == "--method":
            values["methods"] = [value]
        elif flag == "--opt":
            values["option_texts"] = {values["methods"][0]: value}
        elif flag == "--batch-size":
            values["training"]["batch_size"] = int(value)
        else:
            values["training"][flag[2:].replace("-", "_")] = value
    return values


@pytest.mark.parametrize("flags, needle", ENTERABLE, ids=[" ".join(f) for f, _ in ENTERABLE])
def test_the_queue_button_refuses_each_bad_input_in_one_line(flags, needle, tmp_path, offline):
    d = bad_files(tmp_path)
    with Lab(str(tmp_path / "door.duckdb")) as lab:
        values = form(flags, d)
        grid = launch_logic.build_grid(values["model"], values["dataset"], values["methods"], values["option_texts"],
                                       values["seeds"], 0, values["training"])
        ids, refused = launch_logic.submit_grid(grid, lambda configs: lab.submit(configs, baselines=True))
        assert ids is None and refused, flags
        refused = refused.replace("\\", "")  # as the page shows the Markdown: escapes gone
        assert needle.format(d=d) in refused, (flags, refused)
        assert "Traceback" not in refused and "--" not in refused.replace("--opt", ""), (flags, refused)
        assert lab.jobs() == [], flags


def test_a_good_form_queues_its_runs_and_baselines(tmp_path):
    with Lab(str(tmp_path / "door.duckdb")) as lab:
        grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["lora"], {}, 2, 0, {"max_train": 64})
        ids, refused = launch_logic.submit_grid(grid, lambda configs: lab.submit(configs, baselines=True))
        assert refused is None and len(ids) == 4 and len(lab.jobs()) == 4  # 2 seeds + majority + zero-shot
        # a grid that lists zero-shot itself (its own settings) gets the majority class, not a second zero-shot
        grid = launch_logic.build_grid("tiny", "tweets-sentiment", ["lora", "zero-shot"], {}, 1, 0,
                                       {"max_train": 32, "max_steps": 3})
        ids, refused = launch_logic.submit_grid(grid, lambda configs: lab.submit(configs, baselines=True))
        added = sorted(j["config"]["method"] for j in lab.jobs() if j["id"] in ids)
        assert refused is None and added == ["lora", "majority", "zero-shot"], added


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser test needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    pytest.importorskip("playwright.sync_api", reason="browser test needs playwright: pip install playwright==1.65.2")
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
def test_the_queue_button_refuses_bad_input_typed_into_the_page(served, browser, tmp_path):
    from playwright.sync_api import expect

    url, lab = served
    d = bad_files(tmp_path)
    page = browser.new_page(viewport=VIEWPORT)
    assert len(ENTERABLE) >= 14 and all(case in ENTERABLE for case in IN_THE_BROWSER)
    for flags, needle in IN_THE_BROWSER:
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
