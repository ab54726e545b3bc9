"""Queue tab: the jobs table (refreshed every 2 s from the database: the running jobs, the first
page of the queued ones with a row counting the rest, the finished ones), Cancel / Retry /
Priority on a job id, and that job's log. Every view is read from the database, so a page reload
or a second browser shows the same queue."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import gradio as gr

from ftlab.errors import FtlabError, one_line
from ftlab.text import t
from ftlab.ui.access import visitor
from ftlab.ui.i18n import L
from ftlab.ui.logic import queue as queue_logic
from ftlab.ui.logic.format import status_markdown

log = logging.getLogger(__name__)
REFRESH_S = 2.0
NO_LOG = "(this job's worker has written nothing yet: its warnings and errors appear here)"


def build(lab) -> SimpleNamespace:
    summary = gr.Markdown(elem_id="queue-summary")
    table = gr.Dataframe(queue_logic.jobs_table([]), interactive=False, wrap=True, max_height=360,
                         column_widths=queue_logic.COLUMN_WIDTHS, elem_id="queue-table", elem_classes="ftlab-readonly",
                         label=L("queue_table"))
    with gr.Row(equal_height=False):
        job_id = gr.Textbox(label=L("queue_job_id"), info=L("queue_job_id_info"), elem_id="queue-job-id", scale=3)
        priority = gr.Number(value=0, precision=0, label=L("queue_priority"), info=L("queue_priority_info"),
                             elem_id="queue-priority", scale=2, min_width=150)
        with gr.Column(scale=2, min_width=200):
            cancel_btn = gr.Button(L("queue_cancel"), variant="stop", size="sm", elem_id="queue-cancel")
            retry_btn = gr.Button(L("queue_retry"), size="sm", elem_id="queue-retry")
            prio_btn = gr.Button(L("queue_set_priority"), size="sm", elem_id="queue-set-priority")
    action = gr.Markdown(elem_id="queue-action")
    job_log = gr.Textbox(label=L("queue_log"), lines=12,
                         max_lines=12, autoscroll=True, interactive=False, elem_id="queue-log")
    timer = gr.Timer(REFRESH_S, active=lab.policy.can_launch)

    def refresh(selected, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            page = lab.jobs_page(queue_logic.PAGE)  # one page of the queue, the counts of all of it
        except Exception as err:  # the table keeps its last value; the reason shows above it
            if not isinstance(err, FtlabError):
                log.exception("jobs")
            return status_markdown(one_line(err), ok=False), gr.skip(), gr.skip()
        text = gr.skip()
        selected = (selected or "").strip()
        if selected:
            try:
                text = queue_logic.log_tail(lab.job_log(queue_logic.parse_job_id(selected),
                                                        user=visitor(request, profile))) or NO_LOG
            except Exception as err:  # noqa: BLE001
                text = one_line(err)
        try:
            health, rejected = lab.scheduler_status(), lab.rejected_commands()
        except Exception as err:  # noqa: BLE001 - the table still shows; the reason goes above it
            health, rejected = one_line(err), []
        jobs, counts = page["jobs"], page["counts"]
        return (queue_logic.queue_summary(jobs, health, rejected, counts=counts),
                queue_logic.jobs_table(jobs, counts=counts), text)

    timer.tick(refresh, [job_id], [summary, table, job_log], show_progress="hidden")

    def pick(evt: gr.SelectData):
        job = queue_logic.picked_job(evt.row_value)  # None for the "and N more queued" row
        return job if job else gr.skip()

    table.select(pick, None, [job_id], show_progress="hidden")
    job_id.change(refresh, [job_id], [summary, table, job_log], show_progress="hidden")

    def command(op):
        def run(request: gr.Request, profile: gr.OAuthProfile | None, selected, prio):
            user = visitor(request, profile)
            try:
                several = queue_logic.parse_job_ids(selected) if op == "cancel" else []
                if len(several) > 1:  # the queued ones in one transaction: none starts meanwhile
                    outcomes = lab.cancel_many(several, user=user)
                    return status_markdown(queue_logic.outcomes_line(outcomes))
                job = queue_logic.parse_job_id(selected)
                if op == "cancel":
                    result = lab.cancel(job, user=user)
                elif op == "retry":
                    result = lab.retry(job, user=user)
                else:
                    if prio is None:
                        raise FtlabError(t("queue_enter_priority"))
                    result = lab.set_priority(job, int(prio), user=user)
            except Exception as err:
                if not isinstance(err, FtlabError):
                    log.exception("%s %s", op, selected)
                return status_markdown(one_line(err), ok=False)
            return status_markdown(f"{job}: {result}")
        return run

    cancel_btn.click(command("cancel"), [job_id, priority], [action])
    retry_btn.click(command("retry"), [job_id, priority], [action])
    prio_btn.click(command("priority"), [job_id, priority], [action])
    return SimpleNamespace(summary=summary, table=table, job_id=job_id, job_log=job_log, refresh=refresh)
