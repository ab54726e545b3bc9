"""Run tab: one run's config, metrics, curves, per-class scores, confusion matrix and logs; a zip of
its trained adapter/head; and Re-run (same seed or the next one)."""

from __future__ import annotations

import logging
import os
import tempfile
from types import SimpleNamespace

import gradio as gr

from ftlab import charts
from ftlab.data import list_datasets
from ftlab.errors import FtlabError, one_line
from ftlab.text import t
from ftlab.ui.access import visitor
from ftlab.ui.common import IMPORT_LOCK, sized
from ftlab.ui.i18n import L
from ftlab.ui.logic import run as run_logic
from ftlab.ui.logic.format import status_markdown

log = logging.getLogger(__name__)
RERUN_CHOICES = [(L("rerun_same"), "same seed"), (L("rerun_next"), "next seed")]


def build(lab) -> SimpleNamespace:
    with gr.Row(equal_height=False):
        picker = gr.Dropdown([], label=L("run_label"), info=L("run_info"),
                             elem_id="run-picker", scale=5)
        refresh_btn = gr.Button(L("refresh"), size="sm", elem_id="run-refresh", scale=1, min_width=90)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            summary = gr.Markdown(L("run_pick"), elem_id="run-summary", elem_classes="ftlab-compact")
            with gr.Row(equal_height=False):
                rerun_seed = gr.Radio(RERUN_CHOICES, value="same seed", label=L("rerun_label"), info=L("rerun_info"),
                                      elem_id="run-rerun-seed", scale=2, visible=lab.policy.can_launch)
                with gr.Column(scale=1, min_width=160):
                    rerun_btn = gr.Button(L("rerun_button"), variant="primary", size="sm", elem_id="run-rerun",
                                          visible=lab.policy.can_launch)
                    download_btn = gr.Button(L("download_button"), size="sm", elem_id="run-download")
            with gr.Row(equal_height=False):
                export_fmt = gr.Radio(["merged", "adapter"], value="merged", label=L("export_label"),
                                      info=L("export_info"), elem_id="run-export-format", scale=2)
                export_btn = gr.Button(L("export_button"), size="sm", elem_id="run-export", scale=1, min_width=120)
            with gr.Row(equal_height=False):
                push_repo = gr.Textbox(label=L("push_label"), placeholder=L("push_placeholder"), info=L("push_info"),
                                       elem_id="run-push-repo", scale=2)
                with gr.Column(scale=1, min_width=120):
                    push_private = gr.Checkbox(value=True, label=L("push_private"), elem_id="run-push-private")
                    push_btn = gr.Button(L("push_button"), size="sm", elem_id="run-push")
            with gr.Row(equal_height=False, visible=lab.policy.can_launch) as continue_row:
                continue_data = gr.Dropdown([d.name for d in list_datasets()], value=None, allow_custom_value=True,
                                            label=L("continue_label"), elem_id="run-continue-data", scale=2,
                                            info=L("continue_info"))
                continue_btn = gr.Button(L("continue_button"), size="sm", elem_id="run-continue", scale=1,
                                         min_width=160)
            lineage = gr.Markdown(elem_id="run-lineage")
            action = gr.Markdown(elem_id="run-action")
            download_file = gr.File(label=L("download_file"), interactive=False, visible=False,
                                    elem_id="run-download-file", height=80)
        with gr.Column(scale=1):
            confusion = gr.Plot(elem_id="run-confusion", show_label=False)
    with gr.Row():
        loss_plot = gr.Plot(elem_id="run-loss", show_label=False)
        eval_plot = gr.Plot(elem_id="run-eval", show_label=False)
    with gr.Row(equal_height=False):
        classes = gr.Dataframe(run_logic.class_table(None), interactive=False, label=L("classes_label"),
                               elem_id="run-classes", max_height=320)
        config = gr.JSON(label=L("config_label"), elem_id="run-config", open=True,
                         max_height=320)
    with gr.Column(visible=False) as generations_box:  # generative runs: what each test example got
        wrong_only = gr.Checkbox(False, label=L("generations_wrong"), info=L("generations_info"),
                                 elem_id="run-generations-wrong")
        generations = gr.Dataframe(run_logic.generation_table(None), interactive=False, wrap=True,
                                   column_widths=run_logic.GENERATION_WIDTHS, label=L("generations_label"),
                                   elem_id="run-generations", max_height=480)
    with gr.Accordion(L("logs_accordion"), open=False):
        logs = gr.Textbox(lines=10, max_lines=10, interactive=False, show_label=False, elem_id="run-logs")

    def choices(current=None):
        """Fresh choices; the newest run is picked when none is."""
        try:
            options = run_logic.run_choices(lab.runs())
        except Exception as err:  # noqa: BLE001
            log.warning("run choices: %s", err)
            return gr.skip()
        ids = [i for _, i in options]
        if current not in (None, "") and int(current) in ids:
            return gr.update(choices=options, value=int(current))
        return gr.update(choices=options, value=ids[0] if ids else None)

    def show(run_id, request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> dict:
        if run_id in (None, ""):
            return {summary: t("run_pick"), action: "", lineage: "", generations_box: gr.update(visible=False)}
        try:
            detail = lab.run_detail(int(run_id), user=visitor(request, profile))
            runs_frame = lab.runs_df()
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("run %s", run_id)
            return {summary: status_markdown(one_line(err), ok=False), action: "", lineage: "",
                    generations_box: gr.update(visible=False)}
        everything = runs_frame.to_dict("records")
        run = detail["run"]
        actions = run_logic.run_actions(run)
        can_rerun = lab.policy.can_launch and actions["rerun"] is not None
        runs_frame = runs_frame[runs_frame["id"] == int(run_id)]
        metric = charts.score_metric(runs_frame)
        fresh_seed = can_rerun and actions["rerun"] == "Re-run"  # a retry repeats the same seed
        return {summary: run_logic.run_summary_markdown(run),
                confusion: sized(charts.confusion_heatmap(run.get("confusion"), run.get("label_names") or []), 420),
                loss_plot: sized(charts.loss_curves(detail["steps"], runs_frame), 380),
                eval_plot: sized(charts.eval_curves(detail["evals"], metric, runs=runs_frame), 380),
                classes: run_logic.class_table(detail["classes"]),
                generations_box: gr.update(visible=len(detail["generations"]) > 0),
                generations: run_logic.generation_table(detail["generations"], False),
                wrong_only: False,
                config: run.get("config") or {},
                logs: t("run_logs_private") if detail.get("private") else
                ("\n".join(run.get("logs") or []) or "(no log lines recorded)"),
                action: "",
                rerun_btn: gr.update(value=t("retry_button" if actions["rerun"] == "Retry" else "rerun_button"),
                                     visible=can_rerun),
                rerun_seed: gr.update(visible=fresh_seed),
                download_btn: gr.update(visible=actions["download"] and not detail.get("private")),
                continue_row: gr.update(visible=fresh_seed),
                lineage: run_logic.lineage_markdown(int(run_id), everything)}

    outputs = [summary, confusion, loss_plot, eval_plot, classes, config, logs, action, rerun_btn, rerun_seed,
               download_btn, continue_row, lineage, generations_box, generations, wrong_only]
    picker.change(show, [picker], outputs)

    def filter_generations(run_id, wrong, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        if run_id in (None, ""):
            return gr.skip()
        try:
            rows = lab.generations(int(run_id), user=visitor(request, profile))
            return run_logic.generation_table(rows, bool(wrong))
        except Exception as err:  # noqa: BLE001
            log.warning("generations of run %s: %s", run_id, err)
            return gr.skip()

    wrong_only.input(filter_generations, [picker, wrong_only], [generations])
    refresh_btn.click(choices, [picker], [picker]).then(show, [picker], outputs)

    def download(run_id, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            if run_id in (None, ""):
                raise FtlabError(t("pick_run_first"))
            weights = lab.weights_path(int(run_id), user=visitor(request, profile))
            path = run_logic.zip_artifacts(weights, tempfile.mkdtemp(prefix="ftlab-run-"), int(run_id))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("download %s", run_id)
            return gr.update(value=None, visible=False), status_markdown(one_line(err), ok=False)
        return (gr.update(value=path, visible=True),
                status_markdown(t("zipped", run=run_id)))

    download_btn.click(download, [picker], [download_file, action])

    def export(run_id, fmt, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        try:
            if run_id in (None, ""):
                raise FtlabError(t("pick_run_first"))
            work = tempfile.mkdtemp(prefix="ftlab-export-")
            with IMPORT_LOCK:
                folder = lab.export(int(run_id), fmt, f"{work}/run-{int(run_id)}-{fmt}", user=visitor(request, profile))
            path = run_logic.zip_folder(folder, work, f"ftlab-run-{int(run_id)}-{fmt}")
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("export %s", run_id)
            return gr.update(value=None, visible=False), status_markdown(one_line(err), ok=False)
        return (gr.update(value=path, visible=True),
                status_markdown(t("exported_run", run=run_id, fmt=fmt)))

    export_btn.click(export, [picker, export_fmt], [download_file, action])

    def push(request: gr.Request, profile: gr.OAuthProfile | None, token: gr.OAuthToken | None, run_id, repo,
             private, fmt):
        try:
            if run_id in (None, ""):
                raise FtlabError(t("pick_run_first"))
            key = run_logic.push_token(getattr(token, "token", None), on_space=bool(os.environ.get("SPACE_ID")))
            with IMPORT_LOCK:
                url = lab.push(int(run_id), (repo or "").strip(), fmt, token=key, private=bool(private),
                               user=visitor(request, profile))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("push %s", run_id)
            return status_markdown(one_line(err), ok=False)
        return status_markdown(t("pushed", run=run_id, fmt=fmt, url=url))

    push_btn.click(push, [picker, push_repo, push_private, export_fmt], [action])

    def rerun(request: gr.Request, profile: gr.OAuthProfile | None, run_id, mode):
        try:
            if run_id in (None, ""):
                raise FtlabError(t("pick_run_first"))
            run = lab.run_detail(int(run_id))["run"]
            with IMPORT_LOCK:
                cfg = run_logic.rerun_config(run.get("config"), next_seed=mode == "next seed")
            if run_logic.run_actions(run)["rerun"] == "Retry":
                cfg = run_logic.rerun_config(run.get("config"))  # what failed, again, as it was
            # a re-run adds a seed to (or repeats) a setting of the run's own experiment
            same = {"id": run["experiment_id"], "name": run.get("experiment") or run["experiment_id"]} \
                if run.get("experiment_id") else None
            ids = lab.submit([cfg], owner=visitor(request, profile), experiment=same)
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("rerun %s", run_id)
            return status_markdown(t("nothing_queued") + one_line(err), ok=False)
        return status_markdown(t("queued_job", job=ids[0], method=cfg.method, seed=cfg.seed))

    rerun_btn.click(rerun, [picker, rerun_seed], [action])

    def continue_run(request: gr.Request, profile: gr.OAuthProfile | None, run_id, dataset):
        try:
            if run_id in (None, ""):
                raise FtlabError(t("pick_run_first"))
            with IMPORT_LOCK:
                ids = lab.continue_run(int(run_id), run_logic.continue_config_dataset(dataset),
                                       owner=visitor(request, profile))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("continue %s", run_id)
            return status_markdown(t("nothing_queued") + one_line(err), ok=False)
        return status_markdown(t("queued_continue", job=ids[-1], run=run_id, dataset=dataset))

    continue_btn.click(continue_run, [picker, continue_data], [action])
    return SimpleNamespace(picker=picker, choices=choices, show=show, outputs=outputs)
