"""The dashboard in a real browser (Debian's chromium through Playwright).

One end-to-end walk: launch a 2-method x 2-seed grid on the tiny model, watch the Queue tab until
the four jobs succeed (reloading the page mid-run), read the Compare tab's score chart from the
DOM, open a run in the Run tab, predict in the Playground, and save a 1280x800 screenshot of each
tab to screenshots/<tab>.png. Each job is a worker subprocess (~5-30 s each on 2 CPU cores), two
at a time. Then the lab in use: a tuning study, a learning curve and a continuation after that
grid (trained in this process) are four experiments, and Compare and the Run picker keep them
apart. Last, a generative grid through the queue: Compare, its generations and the Playground.
"""

import re
from pathlib import Path

import pytest
from browser_kit import (VIEWPORT, add_choice, dashboard, fill, open_tab, pick, plot_meta, require_browser, shot,
                         upload, wait_for)

from ftlab.config import RunConfig

JOB_ID = re.compile(r"^j[0-9a-f]{10}$")

sync_api = require_browser()
expect = sync_api.expect


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    # two jobs at a time, each in a worker started ahead of it: the walk's grid and the generative one
    with dashboard(tmp_path_factory.mktemp("dashboard") / "ui.duckdb", start_scheduler=True, cpu_slots=2,
                   spare_workers=True) as (url, lab):
        yield url, lab


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
    expect(page.locator("#launch-queue")).to_have_text("Queue 4 runs + 2 baseline(s)")  # majority, zero-shot
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
    # a model that cannot load is refused at the door (Estimate and Queue alike), in one line
    pick(page, "launch-model", "bert-base-uncasd")
    page.locator("#launch-queue").click()
    expect(page.locator("#launch-status")).to_contain_text("Nothing was queued", timeout=120_000)
    expect(page.locator("#launch-status")).to_contain_text("'bert-base-uncasd'")
    page.locator("#launch-estimate").click()
    expect(page.locator("#launch-status")).to_contain_text("Cannot estimate", timeout=60_000)
    expect(page.locator("#launch-estimate-table")).to_be_hidden()
    assert lab.jobs() == []
    pick(page, "launch-model", "tiny")
    page.locator("#launch-queue").click()

    # -- Queue: the launch switches here, and the table already lists the four jobs
    expect(page.locator("#queue-table")).to_be_visible(timeout=120_000)
    expect(page.locator("#queue-summary")).not_to_contain_text("No jobs yet", timeout=5_000)
    # each header on one line: no header wraps mid-word ("metho d", "E T A")
    lines = page.locator("#queue-table th").evaluate_all(
        "hs => hs.map(h => { const w = document.createTreeWalker(h, NodeFilter.SHOW_TEXT); let most = 0, n;"
        " while ((n = w.nextNode())) { if (!n.textContent.trim()) continue; const r = document.createRange();"
        " r.selectNodeContents(n); const tops = new Set([...r.getClientRects()].filter(x => x.width > 0)"
        ".map(x => Math.round(x.top))); most = Math.max(most, tops.size); }"
        " return [h.innerText.trim(), most]; })")
    assert lines and all(n <= 1 for _, n in lines), [x for x in lines if x[1] > 1]
    error_header = page.locator("#queue-table th").filter(has_text="error").first.bounding_box()
    assert error_header["x"] + 40 < VIEWPORT["width"]  # the error column is on screen
    # the 4 runs and the grid's 2 baselines (majority class, zero-shot), which the charts draw as lines
    ids = wait_for(lambda: len(job_statuses(page)) == 6 and set(job_statuses(page)), 60, "6 jobs in the table")
    assert ids == {j["id"] for j in lab.jobs()}
    configs = [j["config"] for j in lab.jobs()]
    assert sorted((c["method"], c["seed"]) for c in configs) == [("head", 0), ("head", 1), ("lora", 0), ("lora", 1),
                                                                 ("majority", 0), ("zero-shot", 0)]
    assert all((c["model"], c["max_train"], c["max_eval"], c["batch_size"]) == ("tiny", 64, 32, 16) for c in configs)
    assert all(c["max_steps"] == 4 for c in configs if c["method"] in ("head", "lora"))

    # reload mid-run: a fresh page shows the same jobs (state lives in the database, not the page)
    wait_for(lambda: "running" in job_statuses(page).values(), 120, "a running job")
    page.reload()  # the address keeps the tab: the reload opens on Queue again
    expect(page.get_by_role("tab", name="Queue", exact=True)).to_have_attribute("aria-selected", "true",
                                                                                 timeout=60_000)
    wait_for(lambda: set(job_statuses(page)) == ids, 30, "the same jobs after a reload")
    box = page.locator("#queue-job-id textarea, #queue-job-id input").first

    def click_row(job_id: str) -> bool:  # the table re-renders as statuses change: click again until it took
        page.locator('#queue-table [role="gridcell"]').filter(has_text=job_id).first.click()
        return box.input_value() == job_id

    wait_for(lambda: click_row(min(ids)), 30, "a click on a row to fill in its job id", poll=1)
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
    assert [b.split(":")[0] for b in meta["meta"]["baselines"]] == ["majority class", "zero-shot"]
    assert page.locator("#compare-table").inner_text().count("succeeded") == 6
    drawn = page.evaluate("() => [...document.querySelectorAll('#compare-score .scatterlayer .point')].length")
    assert drawn >= 2  # the two methods' markers are on the page, not only in the figure's data
    for elem_id in ("compare-throughput", "compare-memory", "compare-loss"):
        assert plot_meta(page, elem_id)["meta"]["empty"] is False, elem_id
    table = page.locator("#compare-table")
    expect(table).not_to_contain_text("≠ opt.r")  # lora's own options are no difference from head
    expect(page.locator("#compare-versus-full")).to_contain_text("Add a full fine-tuning run")
    assert plot_meta(page, "compare-loss")["meta"]["smoothing"] > 0  # smoothed by default
    shot(page, "compare")
    page.reload()  # the open tab is in the address: a reload stays on Compare
    expect(page.get_by_role("tab", name="Compare", exact=True)).to_have_attribute("aria-selected", "true",
                                                                                   timeout=60_000)
    assert "tab=compare" in page.url
    page.locator("#compare-export-csv").click()
    expect(page.locator("#compare-export-file a").first).to_be_visible(timeout=30_000)
    expect(page.locator("#compare-export-status")).to_contain_text("Exported 6 run(s) as CSV")

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
    # the newest run of each method is picked already: Predict works at once
    expect(page.locator("#playground-runs")).to_contain_text("lora", timeout=30_000)
    expect(page.locator("#playground-runs")).to_contain_text("head")
    page.locator("#playground-predict").click()
    expect(page.locator("#playground-status")).to_contain_text("2 run(s) predicted", timeout=120_000)
    heads = " ".join(page.locator(f"#playground-head-{i}").inner_text() for i in range(2))
    assert "lora" in heads and "head" in heads and "seed 1" in heads
    orders = []
    for i in range(2):
        result = page.locator(f"#playground-label-{i}")
        expect(result).to_be_visible()
        text = result.inner_text()
        orders.append([label for label in ("negative", "neutral", "positive") if label in text])
        assert text.count("positive") == 1  # each class named once
    assert orders[0] == orders[1] == ["negative", "neutral", "positive"]  # the same order in every card
    expect(page.locator("#playground-label-2")).to_be_hidden()
    shot(page, "playground")

    # -- Launch again: an uploaded file is saved under a generated name and its card is shown
    open_tab(page, "Launch")
    upload(page, upload_csv)
    expect(page.locator("#launch-status")).to_contain_text("Saved the upload as", timeout=30_000)
    expect(page.locator("#launch-card")).to_contain_text("92 train / 11 validation / 11 test", timeout=60_000)  # 80/10/10 of 114
    saved = list((Path(lab.db_path).parent / "ui-uploads").iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("upload-") and "reviews" not in saved[0].name

    # a file without a label column is refused by Queue, naming the field on this page
    no_label = tmp_path / "no label.csv"
    no_label.write_text("review,stars\n" + "".join(f"nice {i},{i % 5}\n" for i in range(40)))
    upload(page, no_label)
    expect(page.locator("#launch-card")).to_contain_text("no label column", timeout=60_000)  # its card says so
    page.locator("#launch-queue").click()
    expect(page.locator("#launch-status")).to_contain_text("Columns and encoding > Label column", timeout=60_000)
    expect(page.locator("#launch-status")).not_to_contain_text("--label-column")
    assert len(lab.jobs()) == 6  # the 4 runs and their 2 baselines

    # a run that fails: the Run tab says why, shows its log and offers Retry, not weights
    from ftlab.config import RunConfig

    from ftlab.service import train_now

    # (trained here, not queued: a worker failing on its data is tests/queue's; this is what the tab shows)
    vanishing = tmp_path / "vanishing.csv"
    vanishing.write_text(upload_csv.read_text())
    config = RunConfig(model="tiny", dataset=str(vanishing), method="head", max_steps=2)
    vanishing.unlink()  # gone before the run reads it
    failed_run, _, error = train_now(config, lab.store, db_path=lab.db_path)
    assert error
    page.goto(url + "?tab=run")
    expect(page.get_by_role("tab", name="Run", exact=True)).to_have_attribute("aria-selected", "true", timeout=60_000)
    summary = page.locator("#run-summary")
    expect(summary).to_contain_text(f"Run #{failed_run}:", timeout=60_000)  # the newest run is shown
    expect(summary).to_contain_text("Why:")
    expect(summary).to_contain_text("not found")
    expect(page.locator("#run-rerun")).to_have_text("Retry")
    expect(page.locator("#run-download")).to_be_hidden()
    shot(page, "run-failed")

    assert not crashes, crashes
    page.close()


# ---- the lab in use: four experiments ---------------------------------------------------------

def _all_done(lab) -> bool:
    studies = lab.studies()
    return (all(j["status"] in ("succeeded", "failed", "canceled", "pruned") for j in lab.jobs())
            and all(st["status"] != "running" for st in studies))


def _record(lab, configs: list, kind: str) -> list[int]:
    """Train `configs` and the baselines they lack in this process, as one experiment of `kind`
    (the experiment records Compare and the Run picker read; how a study, a curve and a continuation
    are queued and run is tests/queue/test_tuning.py's, tests/ui/test_door.py's and
    tests/ui/test_browser_adaptation.py's)."""
    from ftlab.experiments import new_experiment
    from ftlab.service import train_now

    experiment = new_experiment(configs, kind=kind)
    ids = []
    for config in lab.missing_baselines(configs) + list(configs):
        run_id, _, error = train_now(config, lab.store, db_path=lab.db_path, experiment=experiment)
        assert error is None, error
        ids.append(run_id)
    return ids


@pytest.mark.timeout(900)
def test_grid_tuning_curve_and_continuation_are_four_experiments(served, browser):
    """After the walk's default grid (trained here when this test runs alone): a tuning study's
    trials and tuned re-run, a learning curve and a continuation, each its own experiment."""
    url, lab = served
    base = RunConfig(model="tiny", dataset="tweets-sentiment", max_train=64, max_eval=32, batch_size=16,
                     max_steps=4, lr=3e-3)
    wait_for(lambda: _all_done(lab), 300, "the walk's jobs", poll=3)
    if not lab.runs(method="lora"):
        _record(lab, [base.replace(method=m) for m in ("head", "lora")], "grid")  # the default grid
    _record(lab, [base.replace(method="lora", seed=5, tag="trial", lr=lr) for lr in (1e-3, 1e-2)]
            + [base.replace(method="lora", seed=5, tag="tuned", lr=1e-2)], "tune")
    # the curve: full at two sizes and the head at a second one (head on 64 examples is the grid's)
    _record(lab, [base.replace(method="full", max_train=n) for n in (32, 64)] + [base.replace(method="head", max_train=32)],
            "curve")
    parent = next(r for r in lab.runs(method="lora", status="succeeded") if not (r["config"] or {}).get("tag"))
    _record(lab, [RunConfig(**parent["config"]).replace(dataset="sentiment-products", init_from=parent["id"])],
            "continue")
    runs = lab.runs()
    fresh = [r for r in runs if r["dataset"] in ("tweets-sentiment", "sentiment-products")]
    assert {r["status"] for r in fresh} == {"succeeded"}, [(r["id"], r["status"], r["error"]) for r in fresh]
    assert {"grid", "tune", "curve", "continue"} <= {e["kind"] for e in lab.experiments()}

    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url + "?tab=compare")
    # the default view: the latest experiment, the continuation, and nothing else
    caption = page.locator("#compare-caption")
    expect(caption).to_contain_text("sentiment-products", timeout=90_000)
    expect(caption).to_contain_text("3 run(s) shown")  # the continued run and its data's two baselines
    meta = wait_for(lambda: (m := plot_meta(page, "compare-score")) and m["meta"] and m["meta"].get("n_points")
                    and m, 60, "the score chart")
    assert meta["meta"]["n_points"] == 1 and meta["meta"]["labels"] == ["lora"]

    # every experiment: clear the picker (empty = every run)
    page.locator("#compare-experiment .token-remove").first.click()
    page.locator("#compare-refresh").click()
    n_ok = sum(r["status"] == "succeeded" for r in runs)
    expect(caption).to_contain_text(f"{n_ok} run(s) shown", timeout=60_000)
    versus = page.locator("#compare-versus-full")
    expect(versus).to_contain_text("Against full fine-tuning", timeout=60_000)
    text = versus.inner_text()
    rows = [ln for ln in text.splitlines() if re.search(r"\d+ examples", ln) and "%" in ln]
    assert rows, text
    full_budgets = {f"{r['config']['max_train']} examples" for r in runs if r["method"] == "full"
                    and r["status"] == "succeeded"}
    for row in rows:  # each row names its group: its budget is one a full run was trained on
        (budget,) = re.findall(r"\d+ examples", row)
        assert budget in full_budgets, row
    assert any("32 examples" in row and row.strip().startswith("head") for row in rows)
    assert "No full fine-tuning run to compare against in" in text and "sentiment-products" in text

    # the Run picker: every run named apart from the others
    open_tab(page, "Run")
    page.locator("#run-picker input").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible(timeout=30_000)
    labels = options.all_inner_texts()
    assert len(labels) == len(runs) and len(set(labels)) == len(labels), labels
    assert any("(trial" in label for label in labels) and any("(tuned" in label for label in labels)
    page.close()


# ---- generation: a decoder that writes its answers -------------------------------------------------

@pytest.mark.timeout(900)
def test_a_generative_grid_compares_lists_its_generations_and_answers_in_the_playground(served, browser, qa_jsonl):
    """An uploaded prompt/answer file on the tiny decoder: LoRA with its two prompting baselines,
    Compare's score and forgetting charts, the Run tab's generations (filtered to the wrong ones),
    and the Playground writing an answer."""
    url, lab = served
    page = browser.new_page(viewport=VIEWPORT)
    crashes: list[str] = []
    page.on("pageerror", lambda err: crashes.append(str(err)))
    page.goto(url)
    page.wait_for_selector("#launch-queue")
    upload(page, qa_jsonl)
    card = page.locator("#launch-card")
    expect(card).to_contain_text("192 train / 24 validation / 24 test", timeout=60_000)
    pick(page, "launch-model", "tiny-llama")
    # three examples as the model reads them: the tiny model has no chat template, so the plain one,
    # through its lower-casing BERT tokenizer ("### Response:" reads "# # # response :")
    expect(card).to_contain_text("# # # response :", timeout=120_000)
    expect(card).to_contain_text("as the model reads it")
    methods = page.locator("#launch-methods")
    for name in ("full", "ia3"):
        methods.get_by_label(name, exact=True).uncheck()
    expect(methods.get_by_label("lora", exact=True)).to_be_checked()
    for elem_id, value in (("launch-max-steps", "24"), ("launch-batch-size", "16"), ("launch-lr", "0.03"),
                           ("launch-max-eval", "24")):
        fill(page, elem_id, value)
    expect(page.locator("#launch-queue")).to_have_text("Queue 1 run + 2 baseline(s)")  # zero-shot, few-shot
    before = {j["id"] for j in lab.jobs()}
    page.locator("#launch-queue").click()
    wait_for(lambda: len({j["id"] for j in lab.jobs()} - before) == 3, 60, "three generative jobs")
    wait_for(lambda: _all_done(lab), 300, "the generative grid", poll=3)
    mine = [r for r in lab.runs() if r["model"] == "tiny-llama"]
    assert sorted(r["method"] for r in mine) == ["few-shot", "lora", "zero-shot"]
    assert {r["status"] for r in mine} == {"succeeded"}, [(r["id"], r["error"]) for r in mine]
    lora = next(r for r in mine if r["method"] == "lora")

    # -- Compare: the latest experiment, scored by exact match, with the general-text forgetting chart
    open_tab(page, "Compare")
    page.locator("#compare-refresh").click()
    expect(page.locator("#compare-caption")).to_contain_text("3 run(s) shown", timeout=90_000)
    meta = wait_for(lambda: (m := plot_meta(page, "compare-general")) and m["meta"] and m["meta"].get("n_points")
                    and m, 60, "the forgetting chart")
    assert sorted(meta["meta"]["labels"]) == ["few-shot", "lora", "zero-shot"]
    score = wait_for(lambda: (m := plot_meta(page, "compare-score")) and m["meta"] and m["meta"].get("n_points")
                     and m, 60, "the score chart")
    assert score["meta"]["n_points"] == 1  # lora; the two prompting runs are its reference lines
    shot(page, "compare-generative")

    # -- Run: the LoRA run's test generations, then only the wrong ones
    page.goto(url + "?tab=run")
    pick(page, "run-picker", next(label for label, i in _run_choices(lab) if i == lora["id"]))
    table = page.locator("#run-generations")
    expect(table).to_be_visible(timeout=60_000)
    expect(table).to_contain_text("expected answer")
    rows = lab.generations(lora["id"])
    assert len(rows) == 24
    wrong = int((~rows["correct"]).sum())
    if int(rows["correct"].sum()):
        expect(table).to_contain_text("✓")
    page.locator("#run-generations-wrong input").check()
    expect(table).not_to_contain_text("✓", timeout=30_000)  # only the wrong ones are left
    if wrong:
        expect(table).to_contain_text("✗")
    shot(page, "run-generations")

    # -- Playground: the LoRA run answers a question of the same kind
    open_tab(page, "Playground")
    page.locator("#playground-refresh").click()
    runs_box = page.locator("#playground-runs")
    expect(runs_box).to_contain_text("lora", timeout=30_000)
    tokens = page.locator("#playground-runs .token-remove")
    while tokens.count():  # only the generative run
        tokens.first.click()
        page.wait_for_timeout(200)
    pick_label = next(label for label, i in _run_choices(lab, with_artifacts=True) if i == lora["id"])
    add_choice(page, "playground-runs", pick_label)
    page.locator("#playground-text textarea").fill("the movie plot good scene night")
    page.locator("#playground-predict").click()
    expect(page.locator("#playground-status")).to_contain_text("1 run(s) predicted", timeout=120_000)
    answer = page.locator("#playground-head-0").inner_text()
    assert "lora" in answer and answer.strip().splitlines()[-1].strip() in ("yes", "no"), answer
    shot(page, "playground-generate")
    assert not crashes, crashes
    page.close()


def _run_choices(lab, with_artifacts: bool = False):
    from ftlab.ui.logic import run as run_logic

    return run_logic.run_choices(lab.runs(), with_artifacts=with_artifacts, artifact_path=lab.artifact_path)
