"""Run tab: one run's config, metrics, curves, per-class scores, confusion matrix and logs; a zip of
its trained adapter/head; and Re-run (same seed or the next one)."""

from __future__ import annotations

import logging
import tempfile
from types import SimpleNamespace

import gradio as gr

from ftlab import charts
from ftlab.ui import logic

log = logging.getLogger(__name__)
RERUN_CHOICES = ["same seed", "next seed"]


def sized(fig, height: int):
    fig.update_layout(height=height, autosize=True)
    return fig


def build(lab) -> SimpleNamespace:
    with gr.Row(equal_height=True):
        picker = gr.Dropdown([], label="Run", info="Newest first; the Compare tab's table opens runs here too.",
                             elem_id="run-picker", scale=5)
        refresh_btn = gr.Button("Refresh", size="sm", elem_id="run-refresh", scale=1, min_width=90)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            summary = gr.Markdown("_Pick a run._", elem_id="run-summary")
        with gr.Column(scale=1):
            confusion = gr.Plot(elem_id="run-confusion", show_label=False)
    with gr.Row():
        loss_plot = gr.Plot(elem_id="run-loss", show_label=False)
        eval_plot = gr.Plot(elem_id="run-eval", show_label=False)
    with gr.Row(equal_height=False):
        classes = gr.Dataframe(interactive=False, label="Per-class scores (test split)", elem_id="run-classes",
                               max_height=320)
        config = gr.JSON(label="Config (everything needed to re-run it)", elem_id="run-config", open=True,
                         max_height=320)
    with gr.Accordion("Logs", open=False):
        logs = gr.Textbox(lines=10, max_lines=10, interactive=False, show_label=False, elem_id="run-logs")
    with gr.Row(equal_height=True):
        download_btn = gr.Button("Download trained adapter/head (zip)", size="sm", elem_id="run-download")
        download_file = gr.File(label="Zip", interactive=False, elem_id="run-download-file", height=80)
        rerun_seed = gr.Radio(RERUN_CHOICES, value="same seed", label="Re-run with",
                              info="Same seed: repeat it exactly; next seed: one more sample of its spread.",
                              elem_id="run-rerun-seed")
        rerun_btn = gr.Button("Re-run", variant="primary", size="sm", elem_id="run-rerun")
    action = gr.Markdown(elem_id="run-action")

    def choices():
        try:
            return gr.update(choices=logic.run_choices(lab.runs()))
        except Exception as err:  # noqa: BLE001
            log.warning("run choices: %s", err)
            return gr.skip()

    def show(run_id):
        if run_id in (None, ""):
            return ["_Pick a run._"] + [gr.skip()] * 6 + [""]
        try:
            detail = lab.run_detail(int(run_id))
        except Exception as err:  # noqa: BLE001
            if not isinstance(err, logic.FtlabError):
                log.exception("run %s", run_id)
            return [logic.status_markdown(logic.one_line(err), ok=False)] + [gr.skip()] * 6 + [""]
        run = detail["run"]
        runs_frame = lab.runs_df()
        runs_frame = runs_frame[runs_frame["id"] == int(run_id)]
        metric = logic.score_column(runs_frame)
        labels = run.get("label_names") or []
        return [logic.run_summary_markdown(run),
                sized(charts.confusion_heatmap(run.get("confusion"), labels), 420),
                sized(charts.loss_curves(detail["steps"], runs_frame), 380),
                sized(charts.eval_curves(detail["evals"], metric, runs=runs_frame), 380),
                logic.class_table(detail["classes"]),
                run.get("config") or {},
                "\n".join(run.get("logs") or []) or "(no log lines recorded)",
                ""]

    outputs = [summary, confusion, loss_plot, eval_plot, classes, config, logs, action]
    picker.change(show, [picker], outputs)
    refresh_btn.click(choices, None, [picker]).then(show, [picker], outputs)

    def download(run_id):
        try:
            if run_id in (None, ""):
                raise logic.FtlabError("pick a run first")
            run = lab.run_detail(int(run_id))["run"]
            path = logic.zip_artifacts(run.get("artifact_dir"), tempfile.mkdtemp(prefix="ftlab-run-"), int(run_id))
        except Exception as err:  # noqa: BLE001
            if not isinstance(err, logic.FtlabError):
                log.exception("download %s", run_id)
            return None, logic.status_markdown(logic.one_line(err), ok=False)
        return path, logic.status_markdown(f"Zipped run {run_id}'s trained weights and config.")

    download_btn.click(download, [picker], [download_file, action])

    def rerun(run_id, mode):
        try:
            if run_id in (None, ""):
                raise logic.FtlabError("pick a run first")
            run = lab.run_detail(int(run_id))["run"]
            cfg = logic.rerun_config(run.get("config"), next_seed=mode == "next seed")
            ids = lab.submit([cfg])
        except Exception as err:  # noqa: BLE001
            if not isinstance(err, logic.FtlabError):
                log.exception("rerun %s", run_id)
            return logic.status_markdown("Nothing was queued: " + logic.one_line(err), ok=False)
        return logic.status_markdown(f"Queued job {ids[0]}: {cfg.method}, seed {cfg.seed} (see the Queue tab).")

    rerun_btn.click(rerun, [picker, rerun_seed], [action])
    return SimpleNamespace(picker=picker, choices=choices, show=show, outputs=outputs)
