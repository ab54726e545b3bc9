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
applies to scripts as it does to the page: another visitor's run gives its scores, never its
weights or logs. A refusal is the same one line the page shows, and one line in the console.
These are the only endpoints a script sees: `build_app` hides the page's own events from the API
(`hide_page_events`).
"""

from __future__ import annotations

import logging
from typing import Optional

import gradio as gr

from ftlab.config import RunConfig
from ftlab.errors import FtlabError, one_line
from ftlab.ui.access import visitor
from ftlab.ui.common import IMPORT_LOCK
from ftlab.ui.logic import queue as queue_logic

log = logging.getLogger(__name__)


NAMES = ("submit", "jobs", "cancel", "runs", "run", "predict")
MAX_RUNS_PER_SUBMIT = 1000


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except FtlabError as err:
        raise refusal(one_line(err)) from None


def refusal(message: str) -> gr.Error:
    """The one line a caller sees for a refused call; gradio prints no traceback for it
    (print_exception=False): a refusal is an answer, not a fault of the dashboard."""
    log.info("refused: %s", message)
    return gr.Error(message, print_exception=False)


def hide_page_events(demo: gr.Blocks) -> None:
    """Every event of the page (a click, a tab opening, an upload) is private to the page: gradio's
    clients neither list nor call them, so scripts see the named endpoints above and nothing else.
    (The service still checks every call: a private event is only hidden, not unreachable.)"""
    for fn in demo.fns.values():
        if fn.api_name not in NAMES:
            fn.api_visibility = "private"


def register(lab) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""

    def submit(model: str, dataset: str, methods: list[str], seeds: int = 1, options: Optional[dict] = None,
               request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[str]:
        """Queue every (method, seed) run of model x dataset with `options` (RunConfig fields shared by the
        runs, e.g. {"max_train": 2000, "epochs": 1}); the grid's baselines go in first. Returns the job ids."""
        if not lab.policy.can_launch:
            raise refusal("this dashboard does not launch runs (leaderboard mode)")
        owner = visitor(request, profile)
        try:
            count = len(methods) * int(seeds)
        except (TypeError, ValueError):
            raise refusal("methods must be a list of names and seeds a whole number") from None
        if count < 1 or count > MAX_RUNS_PER_SUBMIT:
            raise refusal(f"a submit queues 1 to {MAX_RUNS_PER_SUBMIT:,} runs (methods x seeds); this asks for "
                          f"{count:,}")
        if not lab.policy.is_open:  # sign-in and quota before building the configs (thousands take seconds)
            _call(lab.policy.check_launch, owner, _call(lab.jobs), count)

        def build():
            with IMPORT_LOCK:
                return [RunConfig(model=model, dataset=dataset, method=m, seed=s, **(options or {}))
                        for m in methods for s in range(int(seeds))]

        configs = _call(build)
        return _call(lab.submit, configs, owner=owner, baselines=True)

    def jobs(request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[dict]:
        """Every job: id, status, method, progress, the run it made (another visitor's without its log)."""
        return _call(lab.jobs_view, visitor(request, profile))

    def cancel(job_id: str, request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> str:
        """Cancel a queued or running job (yours, on a shared dashboard); several ids separated by commas
        cancel the queued ones among them at once, before any of them starts."""
        if not str(job_id or "").strip():
            raise refusal("give a job id (or several, separated by commas)")
        ids = _call(queue_logic.parse_job_ids, str(job_id))
        if len(ids) == 1:
            return _call(lab.cancel, ids[0], user=visitor(request, profile))
        return queue_logic.outcomes_line(_call(lab.cancel_many, ids, user=visitor(request, profile)))

    def runs() -> list[dict]:
        """Every run: config, scores (accuracy, macro_f1 or entity_f1), trainable parameters, costs."""
        return _call(lab.runs)

    def run(run_id: int, request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> dict:
        """One run: everything the Run tab shows as data (config, summary, scores, costs, and its log lines
        where the run is yours or nobody's)."""
        return _call(lambda: lab.run_detail(int(run_id), user=visitor(request, profile))["run"])

    def predict(run_id: int, texts: list[str], request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> dict:
        """A trained run's predictions: {"task", "predictions": [{"label", "probs"} or {"tokens", "tags", ...}]}
        (your runs, and those nobody owns, on a shared dashboard)."""
        def go():
            with IMPORT_LOCK:
                return lab.predict(int(run_id), list(texts), user=visitor(request, profile))
        return _call(go)

    for fn in (submit, jobs, cancel, runs, run, predict):
        assert fn.__name__ in NAMES
        gr.api(fn, api_name=fn.__name__)
