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
from ftlab.ui.access import visitor
from ftlab.ui.common import IMPORT_LOCK, sized
from ftlab.ui.logic import run as run_logic
from ftlab.ui.logic.format import status_markdown

log = logging.getLogger(__name__)
RERUN_CHOICES = ["same seed", "next seed"]


def build(lab) -> SimpleNamespace:
    with gr.Row(equal_height=False):
        picker = gr.Dropdown([], label="Run", info="Newest first; the Compare tab's table opens runs here too.",
                             elem_id="run-picker", scale=5)
        refresh_btn = gr.Button("Refresh", size="sm", elem_id="run-refresh", scale=1, min_width=90)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            summary = gr.Markdown("_Pick a run._", elem_id="run-summary", elem_classes="ftlab-compact")
            with gr.Row(equal_height=False):
                rerun_seed = gr.Radio(RERUN_CHOICES, value="same seed", label="Re-run with",
                                      info="Same seed repeats it exactly; next seed samples its spread.",
                                      elem_id="run-rerun-seed", scale=2, visible=lab.policy.can_launch)
                with gr.Column(scale=1, min_width=160):
                    rerun_btn = gr.Button("Re-run", variant="primary", size="sm", elem_id="run-rerun",
                                          visible=lab.policy.can_launch)
                    download_btn = gr.Button("Download weights (zip)", size="sm", elem_id="run-download")
            with gr.Row(equal_height=False):
                export_fmt = gr.Radio(["merged", "adapter"], value="merged", label="Export for use without ftlab",
                                      info="merged: a transformers folder (pipeline, AutoModelFor...Classification); "
                                           "adapter: a peft folder (PeftModel.from_pretrained). Both with a Hub "
                                           "model card.", elem_id="run-export-format", scale=2)
                export_btn = gr.Button("Export (zip)", size="sm", elem_id="run-export", scale=1, min_width=120)
            with gr.Row(equal_height=False):
                push_repo = gr.Textbox(label="Push the export to the Hub", placeholder="USER/NAME",
                                       info="A model repo (created if missing) gets the export chosen above and its "
                                            "model card. On a Space: your own account, after Sign in; locally: "
                                            "this machine's Hugging Face login (HF_TOKEN).",
                                       elem_id="run-push-repo", scale=2)
                with gr.Column(scale=1, min_width=120):
                    push_private = gr.Checkbox(value=True, label="private", elem_id="run-push-private")
                    push_btn = gr.Button("Push", size="sm", elem_id="run-push")
            with gr.Row(equal_height=False, visible=lab.policy.can_launch) as continue_row:
                continue_data = gr.Dropdown([d.name for d in list_datasets()], value=None, allow_custom_value=True,
                                            label="Continue on dataset", elem_id="run-continue-data", scale=2,
                                            info="Continual fine-tuning: start from this run's trained weights on "
                                                 "new data with the same label names; the new run reports how much "
                                                 "of this run's test score it forgets.")
                continue_btn = gr.Button("Continue from this run", size="sm", elem_id="run-continue", scale=1,
                                         min_width=160)
            lineage = gr.Markdown(elem_id="run-lineage")
            action = gr.Markdown(elem_id="run-action")
            download_file = gr.File(label="Trained weights and config, or an export", interactive=False, visible=False,
                                    elem_id="run-download-file", height=80)
        with gr.Column(scale=1):
            confusion = gr.Plot(elem_id="run-confusion", show_label=False)
    with gr.Row():
        loss_plot = gr.Plot(elem_id="run-loss", show_label=False)
        eval_plot = gr.Plot(elem_id="run-eval", show_label=False)
    with gr.Row(equal_height=False):
        classes = gr.Dataframe(run_logic.class_table(None), interactive=False, label="Per-class scores (test split)",
                               elem_id="run-classes", max_height=320)
        config = gr.JSON(label="Config (everything needed to re-run it)", elem_id="run-config", open=True,
                         max_height=320)
    with gr.Accordion("Logs", open=False):
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

    def show(run_id):
        if run_id in (None, ""):
            return ["_Pick a run._"] + [gr.skip()] * 6 + [""] + [gr.skip()] * 4 + [""]
        try:
            detail = lab.run_detail(int(run_id))
            runs_frame = lab.runs_df()
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("run %s", run_id)
            return [status_markdown(one_line(err), ok=False)] + [gr.skip()] * 6 + [""] + [gr.skip()] * 4 + [""]
        everything = runs_frame.to_dict("records")
        run = detail["run"]
        actions = run_logic.run_actions(run)
        can_rerun = lab.policy.can_launch and actions["rerun"] is not None
        runs_frame = runs_frame[runs_frame["id"] == int(run_id)]
        metric = charts.score_metric(runs_frame)
        labels = run.get("label_names") or []
        return [run_logic.run_summary_markdown(run),
                sized(charts.confusion_heatmap(run.get("confusion"), labels), 420),
                sized(charts.loss_curves(detail["steps"], runs_frame), 380),
                sized(charts.eval_curves(detail["evals"], metric, runs=runs_frame), 380),
                run_logic.class_table(detail["classes"]),
                run.get("config") or {},
                "\n".join(run.get("logs") or []) or "(no log lines recorded)",
                "",
                gr.update(value=actions["rerun"] or "Re-run", visible=can_rerun),
                gr.update(visible=can_rerun and actions["rerun"] == "Re-run"),  # a retry repeats the same seed
                gr.update(visible=actions["download"]),
                gr.update(visible=can_rerun and actions["rerun"] == "Re-run"),
                run_logic.lineage_markdown(int(run_id), everything)]

    outputs = [summary, confusion, loss_plot, eval_plot, classes, config, logs, action, rerun_btn, rerun_seed,
               download_btn, continue_row, lineage]
    picker.change(show, [picker], outputs)
    refresh_btn.click(choices, [picker], [picker]).then(show, [picker], outputs)

    def download(run_id):
        try:
            if run_id in (None, ""):
                raise FtlabError("pick a run first")
            run = lab.run_detail(int(run_id))["run"]
            path = run_logic.zip_artifacts(lab.artifact_path(run), tempfile.mkdtemp(prefix="ftlab-run-"), int(run_id))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("download %s", run_id)
            return gr.update(value=None, visible=False), status_markdown(one_line(err), ok=False)
        return (gr.update(value=path, visible=True),
                status_markdown(f"Zipped run {run_id}'s trained weights and config: download below."))

    download_btn.click(download, [picker], [download_file, action])

    def export(run_id, fmt):
        try:
            if run_id in (None, ""):
                raise FtlabError("pick a run first")
            work = tempfile.mkdtemp(prefix="ftlab-export-")
            with IMPORT_LOCK:
                folder = lab.export(int(run_id), fmt, f"{work}/run-{int(run_id)}-{fmt}")
            path = run_logic.zip_folder(folder, work, f"ftlab-run-{int(run_id)}-{fmt}")
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("export %s", run_id)
            return gr.update(value=None, visible=False), status_markdown(one_line(err), ok=False)
        return (gr.update(value=path, visible=True),
                status_markdown(f"Exported run {run_id} as a {fmt} folder with a model card: download below."))

    export_btn.click(export, [picker, export_fmt], [download_file, action])

    def push(token: gr.OAuthToken | None, run_id, repo, private, fmt):
        try:
            if run_id in (None, ""):
                raise FtlabError("pick a run first")
            key = run_logic.push_token(getattr(token, "token", None), on_space=bool(os.environ.get("SPACE_ID")))
            with IMPORT_LOCK:
                url = lab.push(int(run_id), (repo or "").strip(), fmt, token=key, private=bool(private))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("push %s", run_id)
            return status_markdown(one_line(err), ok=False)
        return status_markdown(f"Pushed run {run_id} ({fmt}) to [{url}]({url}).")

    push_btn.click(push, [picker, push_repo, push_private, export_fmt], [action])

    def rerun(request: gr.Request, profile: gr.OAuthProfile | None, run_id, mode):
        try:
            if run_id in (None, ""):
                raise FtlabError("pick a run first")
            run = lab.run_detail(int(run_id))["run"]
            with IMPORT_LOCK:
                cfg = run_logic.rerun_config(run.get("config"), next_seed=mode == "next seed")
            if run_logic.run_actions(run)["rerun"] == "Retry":
                cfg = run_logic.rerun_config(run.get("config"))  # what failed, again, as it was
            ids = lab.submit([cfg], owner=visitor(request, profile))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("rerun %s", run_id)
            return status_markdown("Nothing was queued: " + one_line(err), ok=False)
        return status_markdown(f"Queued job {ids[0]}: {cfg.method}, seed {cfg.seed} (see the Queue tab).")

    rerun_btn.click(rerun, [picker, rerun_seed], [action])

    def continue_run(request: gr.Request, profile: gr.OAuthProfile | None, run_id, dataset):
        try:
            if run_id in (None, ""):
                raise FtlabError("pick a run first")
            with IMPORT_LOCK:
                ids = lab.continue_run(int(run_id), run_logic.continue_config_dataset(dataset),
                                       owner=visitor(request, profile))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("continue %s", run_id)
            return status_markdown("Nothing was queued: " + one_line(err), ok=False)
        return status_markdown(f"Queued job {ids[-1]}: run {run_id} continued on {dataset} (see the Queue tab); "
                               "it reports forgetting on this run's test split.")

    continue_btn.click(continue_run, [picker, continue_data], [action])
    return SimpleNamespace(picker=picker, choices=choices, show=show, outputs=outputs)
