"""The Queue tab's logic (ftlab/ui/logic/queue.py): the jobs table and job ids."""

import pytest

from ftlab.errors import FtlabError
from ftlab.ui.logic import queue as queue_logic


def test_jobs_table_shows_progress_eta_and_errors():
    jobs = [{"id": "ja", "status": "running", "config": {"method": "lora", "model": "tiny", "dataset": "/x/up/upload-1.csv",
                                                         "seed": 1},
             "step": 3, "total_steps": 4, "samples_per_s": 12.345, "eta_s": 75, "last_loss": 0.123456, "priority": 2,
             "run_id": 7},
            {"id": "jb", "status": "failed", "config": {"method": "vera"}, "error": "peft could not apply"},
            {"id": "jc", "status": "succeeded", "config": {}, "step": 4, "total_steps": 4, "eta_s": 0},
            {"id": "jd", "status": "running", "config": {}, "step": 0}]
    t = queue_logic.jobs_table(jobs)
    assert list(t.columns) == queue_logic.JOB_COLUMNS
    first = t.iloc[0]
    assert (first["progress"], first["samples/s"], first["ETA"], first["loss"]) == ("75% · 3/4", 12.3, "1m 15s", 0.1235)
    assert first["dataset"] == "upload-1.csv"  # an uploaded file shows by name, not server path
    assert t.iloc[1]["error"] == "peft could not apply" and t.iloc[1]["progress"] == "0% · 0/?"
    assert t.iloc[2]["progress"] == "100% · 4/4" and t.iloc[2]["ETA"] == ""
    assert t.iloc[3]["progress"] == "starting"  # no total yet: the worker is loading
    assert len(queue_logic.COLUMN_WIDTHS) == len(queue_logic.JOB_COLUMNS)
    assert list(t.columns).index("error") < list(t.columns).index("model")  # the error is on screen
    assert queue_logic.queue_summary(jobs) == "**2** running · **1** succeeded · **1** failed"
    assert "No jobs yet" in queue_logic.queue_summary([])


def test_the_queue_tells_runs_apart_by_experiment_tag_and_size():
    """A study's trials, its tuned re-run, a learning-curve size and a continuation read differently."""
    jobs = [{"id": "j1", "status": "queued", "trial": 3, "experiment": "tuning lora · tiny / kw · 256 examples",
             "config": {"method": "lora", "tag": "trial", "max_train": 256}},
            {"id": "j2", "status": "queued", "config": {"method": "lora", "tag": "tuned", "max_train": 256}},
            {"id": "j3", "status": "queued", "config": {"method": "head", "max_train": 64}},
            {"id": "j4", "status": "queued", "config": {"method": "lora", "init_from": 4}}]
    t = queue_logic.jobs_table(jobs)
    assert list(t["tag"]) == ["trial 3", "tuned", "", "from #4"]
    assert list(t["examples"]) == ["256", "256", "64", "all examples"]
    assert t.iloc[0]["experiment"] == "tuning lora · tiny / kw · 256 examples" and t.iloc[1]["experiment"] == ""


def test_job_ids_are_checked():
    assert queue_logic.parse_job_id(" j1a2b3c4d5e ") == "j1a2b3c4d5e"
    with pytest.raises(FtlabError, match="enter a job id"):
        queue_logic.parse_job_id("")
    with pytest.raises(FtlabError, match="is not a job id"):
        queue_logic.parse_job_id("../../etc/passwd")


def test_several_job_ids_for_a_cancel():
    assert queue_logic.parse_job_ids("j1, j2 j3") == ["j1", "j2", "j3"]
    assert queue_logic.parse_job_ids(" j1 ") == ["j1"]
    with pytest.raises(FtlabError):
        queue_logic.parse_job_ids("j1, ../etc")
    with pytest.raises(FtlabError):
        queue_logic.parse_job_ids("")


def test_log_tail_shows_text_not_terminal_codes():
    raw = ("\x1b[1mBertForSequenceClassification LOAD REPORT\x1b[0m\n"
           "Loading weights:   0%|   | 0/103\rLoading weights: 100%|###| 103/103\r\n"
           "step 3 loss 0.5\n\n")
    assert queue_logic.log_tail(raw) == ("BertForSequenceClassification LOAD REPORT\n"
                                         "Loading weights: 100%|###| 103/103\nstep 3 loss 0.5")
    assert queue_logic.log_tail("a\nb\nc", lines=2) == "b\nc"


def test_the_summary_says_what_is_wrong_with_the_scheduler_and_what_it_set_aside():
    jobs = [{"id": "ja", "status": "queued", "config": {}}]
    assert queue_logic.queue_summary(jobs) == "**1** queued"
    text = queue_logic.queue_summary(jobs, "scheduler: database error, retrying (3): IO Error",
                                     [{"file": "cmd-1.json", "reason": "not JSON", "command": None}])
    assert text.startswith("**Problem:** scheduler: database error, retrying (3)") and "**1** queued" in text
    assert "1 command(s) could not apply" in text and "cmd-1.json" in text and "not JSON" in text


def test_the_summary_counts_pruned_tuning_trials():
    from ftlab.ui.logic.queue import queue_summary

    jobs = [{"status": "succeeded"}, {"status": "pruned"}, {"status": "pruned"}, {"status": "running"}]
    assert queue_summary(jobs).startswith("**1** running · **1** succeeded · **2** pruned")


def test_the_chinese_page_shows_translated_statuses_and_progress():
    """What the handlers put in the tables is in the page's language too, not only the labels."""
    from ftlab import text
    from ftlab.ui.logic import compare as compare_logic
    import pandas as pd

    jobs = [{"id": "j1", "status": "running", "config": {"method": "lora", "seed": 0}, "step": 4, "total_steps": 4,
             "phase": {"split": "test", "done": 600, "total": 1000}},
            {"id": "j2", "status": "succeeded", "config": {"method": "lora", "seed": 1}, "step": 4, "total_steps": 4}]
    with text.using("zh"):
        table = queue_logic.jobs_table(jobs)
        runs = compare_logic.runs_table(pd.DataFrame({"id": [1], "status": ["failed"], "method": ["lora"],
                                                      "model": ["tiny"], "dataset": ["d"], "seed": [0]}))
    assert list(table.iloc[:, 1]) == ["运行中", "成功"]
    assert table.iloc[0, queue_logic.JOB_COLUMNS.index("progress")] == "正在评估测试集：600 / 1,000"
    assert list(runs.iloc[:, 1]) == ["失败"]
    with text.using("en"):
        assert queue_logic.jobs_table(jobs).iloc[0, queue_logic.JOB_COLUMNS.index("progress")] == "evaluating test: 600 / 1,000"


def test_a_long_queue_is_one_page_and_a_row_counting_the_rest():
    from ftlab import text

    jobs = ([{"id": "jr", "status": "running", "config": {}}]
            + [{"id": f"jq{i}", "status": "queued", "config": {}} for i in range(queue_logic.PAGE)]
            + [{"id": "jf", "status": "failed", "config": {}, "error": "boom"}])
    counts = {"running": 1, "queued": 5000, "failed": 1}
    table = queue_logic.jobs_table(jobs, counts=counts)
    assert len(table) == len(jobs) + 1
    assert list(table["job"])[-3:] == [f"jq{queue_logic.PAGE - 1}", "and 4,950 more queued", "jf"]
    assert queue_logic.picked_job(list(table.iloc[-2])) is None and queue_logic.picked_job(["jf"]) == "jf"
    assert queue_logic.queue_summary(jobs, counts=counts) == "**1** running · **5,000** queued · **1** failed"
    assert len(queue_logic.jobs_table(jobs, counts={**counts, "queued": queue_logic.PAGE})) == len(jobs)  # all listed
    assert len(queue_logic.jobs_table(jobs)) == len(jobs)  # no counts: the jobs are all there is
    only_running = queue_logic.jobs_table(jobs[:1] + jobs[-1:], counts=counts)  # no queued job listed
    assert list(only_running["job"]) == ["jr", "and 5,000 more queued", "jf"]
    with text.using("zh"):
        assert queue_logic.jobs_table(jobs, counts=counts).iloc[-2, 0] == "另有 4,950 个排队中"
