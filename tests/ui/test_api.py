"""The dashboard's API driven by gradio_client: submit a grid, wait, list runs, predict."""

import time

import pytest
from browser_kit import dashboard

gradio_client = pytest.importorskip("gradio_client")


@pytest.mark.timeout(600)
def test_a_script_submits_waits_lists_and_predicts(tmp_path, keyword_csv):
    with dashboard(tmp_path / "api.duckdb", start_scheduler=True) as (url, lab):
        client = gradio_client.Client(url, verbose=False)
        names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert {"/submit", "/jobs", "/cancel", "/runs", "/run", "/predict"} <= names
        ids = client.predict("tiny", keyword_csv, ["head"], 1, {"max_train": 64, "max_eval": 16, "max_steps": 4},
                             api_name="/submit")
        assert len(ids) == 3  # the run and its two baselines (majority class, zero-shot)
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            listed = client.predict(api_name="/jobs")
            assert all(isinstance(j, dict) for j in listed), repr(listed)[:500]
            jobs = {j["id"]: j for j in listed}
            if all(jobs[i]["status"] in ("succeeded", "failed") for i in ids):
                break
            time.sleep(2)
        assert all(jobs[i]["status"] == "succeeded" for i in ids), {i: jobs[i]["status"] for i in ids}
        runs = client.predict(api_name="/runs")
        head = next(r for r in runs if r["method"] == "head")
        assert 0 <= head["accuracy"] <= 1
        detail = client.predict(head["id"], api_name="/run")
        assert detail["config"]["method"] == "head" and detail["status"] == "succeeded"
        out = client.predict(head["id"], ["a wonderful film", "terrible"], api_name="/predict")
        assert out["task"] == "classification" and len(out["predictions"]) == 2
        with pytest.raises(Exception, match="unknown method"):
            client.predict("tiny", keyword_csv, ["nope"], 1, {}, api_name="/submit")
