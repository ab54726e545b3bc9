"""The dashboard's Blocks: five tabs over one `Lab`. `build_app` builds; only app.py launches."""

from __future__ import annotations

import gradio as gr

from ftlab.ui import compare, launch, logic, playground, queue, run

TABS = ("launch", "queue", "compare", "run", "playground")
# Compact Markdown tables (dataset card, run summary): gradio's default cell padding makes a
# 10-row table taller than a 1280x800 screen's fold.
CSS = """
.ftlab-compact table { margin: 4px 0 !important; }
.ftlab-compact th, .ftlab-compact td { padding: 3px 10px !important; line-height: 1.3 !important; }
"""


def _header(lab) -> str:
    slots = ", ".join(lab.scheduler.slots) if getattr(lab, "scheduler", None) is not None else "another process"
    return (f"### ftlab · fine-tuning lab\n<small>database `{lab.db_path}` · device slots: {slots} · "
            "what does full fine-tuning buy over the parameter-efficient methods?</small>")


def build_app(lab) -> gr.Blocks:
    """The whole dashboard for `lab` (a `ftlab.service.Lab`; give it `start_scheduler=True` so
    queued jobs run). Returns the Blocks unlaunched."""
    with gr.Blocks(title="ftlab", fill_width=True, analytics_enabled=False) as demo:
        gr.HTML(f"<style>{CSS}</style>", elem_id="ftlab-style", padding=False)
        gr.Markdown(_header(lab), elem_id="header")
        with gr.Tabs(selected="launch", elem_id="tabs") as tabs:
            with gr.Tab("Launch", id="launch", elem_id="tab-launch"):
                launch_ui = launch.build(lab)
            with gr.Tab("Queue", id="queue", elem_id="tab-queue"):
                queue_ui = queue.build(lab)
            with gr.Tab("Compare", id="compare", elem_id="tab-compare") as compare_tab:
                compare_ui = compare.build(lab)
            with gr.Tab("Run", id="run", elem_id="tab-run") as run_tab:
                run_ui = run.build(lab)
            with gr.Tab("Playground", id="playground", elem_id="tab-playground") as playground_tab:
                playground_ui = playground.build(lab)

        # Cross-tab wiring: launching goes to Queue; a Compare row opens in Run; each tab reads the
        # database again when it is opened, so it shows runs that finished meanwhile.
        launch.wire_queue(lab, launch_ui, tabs)
        compare_tab.select(compare_ui.refresh, compare_ui.filters, compare_ui.outputs)
        run_tab.select(run_ui.choices, [run_ui.picker], [run_ui.picker])
        playground_tab.select(playground_ui.choices, None, [playground_ui.runs])

        def open_run(evt: gr.SelectData):
            row = evt.row_value or []
            if not row:
                return gr.skip(), gr.skip()
            try:
                choices = logic.run_choices(lab.runs())
            except Exception:  # noqa: BLE001 - the Run tab shows its own error on refresh
                return gr.skip(), gr.skip()
            return gr.update(choices=choices, value=int(row[0])), gr.Tabs(selected="run")

        compare_ui.table.select(open_run, None, [run_ui.picker, tabs])
        demo.load(launch_ui.show_card, launch_ui.card_inputs, [launch_ui.card])
        demo.load(queue_ui.refresh, [queue_ui.job_id], [queue_ui.summary, queue_ui.table, queue_ui.job_log])
    return demo
