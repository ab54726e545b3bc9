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
    assert (first["progress %"], first["step"], first["samples/s"], first["ETA"], first["last loss"]) == \
        (75.0, "3/4", 12.3, "1m 15s", 0.1235)
    assert first["dataset"] == "upload-1.csv"  # an uploaded file shows by name, not server path
    assert t.iloc[1]["error"] == "peft could not apply" and t.iloc[1]["step"] == "0/?"
    assert t.iloc[2]["progress %"] == 100.0 and t.iloc[2]["ETA"] == ""
    assert t.iloc[3]["step"] == "starting"  # no total yet: the worker is loading
    assert queue_logic.queue_summary(jobs) == "**2** running · **1** succeeded · **1** failed"
    assert "No jobs yet" in queue_logic.queue_summary([])


def test_job_ids_are_checked():
    assert queue_logic.parse_job_id(" j1a2b3c4d5e ") == "j1a2b3c4d5e"
    with pytest.raises(FtlabError, match="enter a job id"):
        queue_logic.parse_job_id("")
    with pytest.raises(FtlabError, match="is not a job id"):
        queue_logic.parse_job_id("../../etc/passwd")
