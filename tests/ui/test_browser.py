"""The dashboard in a real browser (Debian's chromium through Playwright).

One end-to-end walk: launch a 2-method x 2-seed grid on the tiny model, watch the Queue tab until
the four jobs succeed (reloading the page mid-run), read the Compare tab's score chart from the
DOM, open a run in the Run tab, predict in the Playground, and save a 1280x800 screenshot of each
tab to screenshots/<tab>.png. Each job is a worker subprocess (~10-30 s each on 2 CPU cores), and
they run one at a time.
"""

import re
from pathlib import Path

import pytest
from browser_kit import CHROMIUM, VIEWPORT, fill, free_port, open_tab, pick, plot_meta, shot, upload, wait_for

JOB_ID = re.compile(r"^j[0-9a-f]{10}$")

if not Path(CHROMIUM).exists():
    pytest.skip(f"browser test needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test needs playwright: pip install playwright==1.65.2")
expect = sync_api.expect


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from ftlab.service import Lab
    from ftlab.ui.app import build_app

    db = tmp_path_factory.mktemp("dashboard") / "ui.duckdb"
    lab = Lab(str(db), start_scheduler=True)
    demo = build_app(lab)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}", lab
    finally:
        demo.close()
        lab.close()


# ---- helpers -------------------------------------------------------------------------------------

def job_statuses(page) -> dict[str, str]:
    """{job id: status} as the Queue tab's table shows them (the id cell is followed by the status)."""
    lines = [ln.strip() for ln in page.locator("#queue-table").inner_text().splitlines() if ln.strip()]
    return {ln: lines[i + 1] for i, ln in enumerate(lines[:-1]) if JOB_ID.match(ln)}


# ---- the walk ------------------------------------------------------------------------------------

@pytest.mark.timeout(900)
def test_launch_watch_compare_inspect_and_predict(served, browser, tmp_path):
    url, lab = served
    upload_csv = tmp_path / "my reviews.csv"
    upload_csv.write_text("text,label\n" + "".join(f"review number {i} is {'good' if i % 2 else 'bad'},"
                                                    f"{'pos' if i % 2 else 'neg'}\n" for i in range(114)))
    page = browser.new_page(viewport=VIEWPORT)
    crashes: list[str] = []
    page.on("pageerror", lambda err: crashes.append(str(err)))
    page.goto(url)
    page.wait_for_selector("#launch-queue")
    expect(page.locator("#launch-card")).to_contain_text("29,795 train", timeout=90_000)

    # -- Launch: head + lora, 2 seeds, on the tiny model with a 4-step budget
    pick(page, "launch-model", "tiny")
    methods = page.locator("#launch-methods")
    for name in ("full", "ia3"):
        methods.get_by_label(name, exact=True).uncheck()
    methods.get_by_label("head", exact=True).check()
    for elem_id, value in (("launch-seeds", "2"), ("launch-max-train", "64"), ("launch-max-eval", "32"),
                           ("launch-max-steps", "4"), ("launch-batch-size", "16")):
        fill(page, elem_id, value)
    expect(page.locator("#launch-queue")).to_have_text("Queue 4 runs")
    expect(page.locator("#launch-opts-head")).to_be_visible()
    expect(page.locator("#launch-opts-full")).to_be_hidden()

    page.locator("#launch-estimate").click()
    estimate = page.locator("#launch-estimate-table")
    expect(estimate).to_contain_text("lora", timeout=120_000)
    expect(estimate).to_contain_text("195")  # the head method trains the 64 x 3 + 3 classifier only
    shot(page, "launch")

    # a bad value is shown inline, with the field, and nothing is queued
    fill(page, "launch-lr", "fast")
    page.locator("#launch-queue").click()
    expect(page.locator("#launch-status")).to_contain_text("lr: expected a number", timeout=120_000)
    assert lab.jobs() == []
    fill(page, "launch-lr", "")
    page.locator("#launch-queue").click()

    # -- Queue: the launch switches here; the four jobs appear, straight from the database
    expect(page.locator("#queue-table")).to_be_visible(timeout=120_000)
    ids = wait_for(lambda: len(job_statuses(page)) == 4 and set(job_statuses(page)), 60, "4 jobs in the table")
    assert ids == {j["id"] for j in lab.jobs()}
    configs = [j["config"] for j in lab.jobs()]
    assert sorted((c["method"], c["seed"]) for c in configs) == [("head", 0), ("head", 1), ("lora", 0), ("lora", 1)]
    assert all((c["model"], c["max_train"], c["max_eval"], c["max_steps"], c["batch_size"]) == ("tiny", 64, 32, 4, 16)
               for c in configs)

    # reload mid-run: a fresh page shows the same jobs (state lives in the database, not the page)
    wait_for(lambda: "running" in job_statuses(page).values(), 120, "a running job")
    page.reload()
    page.wait_for_selector("#launch-queue")
    open_tab(page, "Queue")
    wait_for(lambda: set(job_statuses(page)) == ids, 30, "the same jobs after a reload")
    page.locator('#queue-table [role="gridcell"]').filter(has_text=min(ids)).first.click()  # fills the job id
    expect(page.locator("#queue-job-id textarea, #queue-job-id input").first).to_have_value(min(ids))
    shot(page, "queue")

    statuses = wait_for(lambda: (s := job_statuses(page)) and all(v in ("succeeded", "failed", "canceled")
                                                                   for v in s.values()) and s,
                        420, "all jobs to finish", poll=3)
    assert set(statuses.values()) == {"succeeded"}, [(j["id"], j["status"], j["error"]) for j in lab.jobs()]
    # a command the queue refuses says why, in one line, next to the buttons
    page.locator("#queue-cancel").click()
    expect(page.locator("#queue-action")).to_contain_text("only queued or running jobs can be canceled")
    expect(page.locator("#queue-log textarea")).not_to_have_value("")  # the picked job's worker log

    # -- Compare: one point per method (2 seeds averaged), read from the Plotly figure in the DOM
    open_tab(page, "Compare")
    meta = wait_for(lambda: (m := plot_meta(page, "compare-score")) and m["meta"] and m["meta"].get("n_points") and m,
                    60, "the score chart")
    assert meta["meta"]["n_points"] == 2 and sorted(meta["meta"]["labels"]) == ["head", "lora"]
    assert meta["meta"]["metric"] == "accuracy" and meta["meta"]["full_ft"] is False
    assert page.locator("#compare-table").inner_text().count("succeeded") == 4
    points = [xs for xs in meta["xs"] if len(xs) == 1]
    assert len(points) == 2  # the two method markers (the frontier line is its own trace)
    for elem_id in ("compare-throughput", "compare-memory", "compare-loss"):
        assert plot_meta(page, elem_id)["meta"]["empty"] is False, elem_id
    table = page.locator("#compare-table")
    expect(table).to_contain_text("≠ opt.r")  # lora's options differ from head's: the config diff
    shot(page, "compare")
    page.locator("#compare-export-csv").click()
    expect(page.locator("#compare-export-file a").first).to_be_visible(timeout=30_000)
    expect(page.locator("#compare-export-status")).to_contain_text("Exported 4 run(s) as CSV")

    # -- Run: a row of the Compare table opens that run here: summary, confusion matrix, weights
    page.locator('#compare-table [data-testid="cell-0-0"]').click()  # run #1 (the table is oldest first)
    expect(page.get_by_role("tab", name="Run", exact=True)).to_have_attribute("aria-selected", "true",
                                                                               timeout=30_000)
    summary = page.locator("#run-summary")
    expect(summary).to_contain_text("Run #1:", timeout=60_000)
    expect(summary).to_contain_text("succeeded")
    wait_for(lambda: (m := plot_meta(page, "run-confusion")) and m["meta"] and m["meta"].get("shape") == [3, 3], 30,
             "the confusion matrix")
    expect(page.locator("#run-classes")).to_contain_text("neutral")
    page.locator("#run-download").click()
    expect(page.locator("#run-download-file a").first).to_be_visible(timeout=30_000)
    expect(page.locator("#run-download-file")).to_contain_text("ftlab-run-1")
    expect(summary).to_contain_text("Run #1:")  # opening the tab kept the run the table picked
    shot(page, "run")

    # -- Playground: two runs predict the same sentence side by side: label and the 3 probabilities
    open_tab(page, "Playground")
    page.locator("#playground-text textarea").fill("what a wonderful day, the concert was amazing")
    runs_box = page.locator("#playground-runs input").first
    picked = []
    for method in ("head", "lora"):
        option = page.get_by_role("option").filter(has_text=f"{method} · seed 1")
        # the tab fills the run list when it opens; typing filters it (and re-opens it once filled)
        wait_for(lambda m=method, o=option: runs_box.click() or runs_box.fill(f"{m} · seed 1") or o.count() == 1, 30,
                 f"the trained {method} run in the Playground", poll=1)
        picked.append(option.inner_text().split(" ")[0])
        option.click()
    page.keyboard.press("Escape")
    page.locator("#playground-predict").click()
    expect(page.locator("#playground-status")).to_contain_text("2 run(s) predicted", timeout=120_000)
    for i, (run, method) in enumerate(zip(picked, ("head", "lora"))):
        expect(page.locator(f"#playground-head-{i}")).to_contain_text(f"{run} {method}")
        result = page.locator(f"#playground-label-{i}")
        expect(result).to_be_visible()
        for label in ("negative", "neutral", "positive"):
            expect(result).to_contain_text(label)
    expect(page.locator("#playground-label-2")).to_be_hidden()
    shot(page, "playground")

    # -- Launch again: an uploaded file is saved under a generated name and its card is shown
    open_tab(page, "Launch")
    upload(page, upload_csv)
    expect(page.locator("#launch-status")).to_contain_text("Saved the upload as", timeout=30_000)
    expect(page.locator("#launch-card")).to_contain_text("92 train / 11 validation / 11 test", timeout=60_000)  # 80/10/10 of 114
    saved = list((Path(lab.db_path).parent / "ui-uploads").iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("upload-") and "reviews" not in saved[0].name

    assert not crashes, crashes
    page.close()
