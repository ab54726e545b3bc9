"""The dashboard's API for scripts: stable endpoints a `gradio_client.Client` calls by name.

    from gradio_client import Client
    lab = Client("http://127.0.0.1:7860/")
    jobs = lab.predict("minilm", "tweets-sentiment", ["full", "lora"], 2, {"max_train": 2000}, api_name="/submit")

| api_name | does |
|---|---|
| /submit | queue a grid (methods x seeds, shared RunConfig fields) with its baselines; returns the job ids |
| /jobs | every job with its status and progress |
| /cancel | cancel a queued or running job |
| /runs | every run with its scores and costs |
| /run | one run: config, summary, scores, logs |
| /predict | a trained run's predictions on texts |

Each goes through `ftlab.service.Lab`, so the dashboard's policy (caps, sign-in, ownership)
applies to scripts as it does to the page. A refusal is the same one line the page shows.
"""

from __future__ import annotations

from typing import Optional

import gradio as gr

from ftlab.config import RunConfig
from ftlab.errors import FtlabError, one_line
from ftlab.ui.access import visitor
from ftlab.ui.common import IMPORT_LOCK


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except FtlabError as err:
        raise gr.Error(one_line(err)) from None


def register(lab) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""

    def submit(model: str, dataset: str, methods: list[str], seeds: int = 1, options: Optional[dict] = None,
               request: gr.Request = None) -> list[str]:
        """Queue every (method, seed) run of model x dataset with `options` (RunConfig fields shared by the
        runs, e.g. {"max_train": 2000, "epochs": 1}); the grid's baselines go in first. Returns the job ids."""
        if not lab.policy.can_launch:
            raise gr.Error("this dashboard does not launch runs (leaderboard mode)")

        def build():
            with IMPORT_LOCK:
                return [RunConfig(model=model, dataset=dataset, method=m, seed=s, **(options or {}))
                        for m in methods for s in range(int(seeds))]

        configs = _call(build)
        return _call(lab.submit, configs, owner=visitor(request, None), baselines=True)

    def jobs() -> list[dict]:
        """Every job: id, status, method, progress, the run it made."""
        return _call(lab.jobs)

    def cancel(job_id: str, request: gr.Request = None) -> str:
        """Cancel a queued or running job (yours, on a shared dashboard)."""
        return _call(lab.cancel, job_id, user=visitor(request, None))

    def runs() -> list[dict]:
        """Every run: config, scores (accuracy, macro_f1 or entity_f1), trainable parameters, costs."""
        return _call(lab.runs)

    def run(run_id: int) -> dict:
        """One run: everything the Run tab shows as data (config, summary, scores, costs, log lines)."""
        return _call(lambda: lab.run_detail(int(run_id))["run"])

    def predict(run_id: int, texts: list[str]) -> dict:
        """A trained run's predictions: {"task", "predictions": [{"label", "probs"} or {"tokens", "tags", ...}]}."""
        def go():
            with IMPORT_LOCK:
                return lab.predict(int(run_id), list(texts))
        return _call(go)

    for fn in (submit, jobs, cancel, runs, run, predict):
        gr.api(fn, api_name=fn.__name__)
