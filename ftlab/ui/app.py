"""The dashboard's Blocks: five tabs over one `Lab`. `build_app` builds; only app.py launches."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from ftlab.text import t
from ftlab.ui import api, compare, i18n, launch, playground, queue, run
from ftlab.ui.i18n import L
from ftlab.ui.logic import run as run_logic

# Compact Markdown tables (dataset card, run summary): gradio's default cell padding makes a
# 10-row table taller than a 1280x800 screen's fold.
CSS = """
.ftlab-compact table { margin: 4px 0 !important; }
.ftlab-compact th, .ftlab-compact td { padding: 3px 10px !important; line-height: 1.3 !important; }
.ftlab-policy { border-left: 4px solid var(--color-accent); padding: 2px 10px !important; font-size: 0.92em; }
.ftlab-readonly td { cursor: pointer; }
.ftlab-help { font-size: 0.88em; opacity: 0.8; margin-top: -6px !important; }
.ftlab-readonly th { white-space: nowrap; }
"""
# The open tab lives in the address (?tab=compare): a reload or a shared link opens the same tab.
REMEMBER_TAB_JS = """() => { const u = new URL(window.location.href); u.searchParams.set('tab', '%s');
window.history.replaceState(null, '', u); }"""
# On load, the tab the address names is clicked as a person would: its select event loads it.
# The address is read before the page mounts: mounting selects the first tab, and its select
# event rewrites the address.
ADDRESS_HEAD = "<script>window.ftlabTab = new URL(window.location.href).searchParams.get('tab');</script>"
# Tab buttons are found by their element id (their text is in the page's language).
OPEN_TAB_JS = """() => { const want = window.ftlabTab;
if (!want || !%s.includes(want)) return;
const button = document.querySelector('button[role="tab"][id="tab-' + want + '-button"]');
if (button && button.getAttribute('aria-selected') !== 'true') button.click(); }""" % json.dumps(
    ["launch", "queue", "compare", "run", "playground"])



def _header(lab) -> str:
    policy = lab.policy
    if not policy.can_launch:
        where = t("header_leaderboard")
    else:
        slots = (", ".join(lab.scheduler.slots) if getattr(lab, "scheduler", None) is not None
                 else t("header_other_process"))
        where = t("header_slots", slots=slots) + ("" if policy.mode == "local" else t("header_mode", mode=policy.mode))
    return t("header", db=Path(lab.db_path).name, where=where)


def build_app(lab) -> gr.Blocks:
    """The whole dashboard for `lab` (a `ftlab.service.Lab`; give it `start_scheduler=True` so
    queued jobs run). `lab.policy` decides what visitors see: in leaderboard mode there is no
    Launch or Queue tab; with sign-in required, a Hugging Face login button sits in the header.
    Returns the Blocks unlaunched."""
    policy = lab.policy
    # delete_cache: gradio's own copies of uploaded files (its temp folder, which its upload route
    # fills before any handler runs) go after an hour on a shared dashboard, a day locally.
    shared = policy.caps is not None or policy.require_login
    with i18n.Dashboard(title="ftlab", fill_width=True, analytics_enabled=False, head=ADDRESS_HEAD + i18n.HEAD,
                        delete_cache=(600 if shared else 3600, 3600 if shared else 24 * 3600)) as demo:
        gr.HTML(f"<style>{CSS}</style>", elem_id="ftlab-style", padding=False)
        # First, so these names are theirs: /submit, /jobs, /cancel, /runs, /run, /predict for scripts
        # (gradio names the page's own events after their functions and would take a free name).
        api.register(lab)
        with gr.Row(equal_height=True):
            header = gr.Markdown(elem_id="header")
            switch = i18n.language_switch()
            if policy.require_login:
                gr.LoginButton(elem_id="login", scale=0, min_width=300, size="md")
        if not policy.can_launch and policy.describe():
            gr.Markdown(policy.describe, elem_id="policy", elem_classes="ftlab-policy")
        with gr.Tabs(selected="launch" if policy.can_launch else "compare", elem_id="tabs") as tabs:
            with gr.Tab(L("tab_launch"), id="launch", elem_id="tab-launch", visible=policy.can_launch) as launch_tab:
                launch_ui = launch.build(lab)
            with gr.Tab(L("tab_queue"), id="queue", elem_id="tab-queue", visible=policy.can_launch) as queue_tab:
                queue_ui = queue.build(lab)
            with gr.Tab(L("tab_compare"), id="compare", elem_id="tab-compare") as compare_tab:
                compare_ui = compare.build(lab)
            with gr.Tab(L("tab_run"), id="run", elem_id="tab-run") as run_tab:
                run_ui = run.build(lab)
            with gr.Tab(L("tab_playground"), id="playground", elem_id="tab-playground") as playground_tab:
                playground_ui = playground.build(lab)

        # Cross-tab wiring: launching goes to Queue; a Compare row opens in Run; each tab reads the
        # database again when it is opened, so it shows runs that finished meanwhile.
        launch.wire_queue(lab, launch_ui, tabs, queue_ui)
        for tab_id, tab in (("launch", launch_tab), ("queue", queue_tab), ("compare", compare_tab), ("run", run_tab),
                            ("playground", playground_tab)):
            tab.select(None, None, None, js=REMEMBER_TAB_JS % tab_id, queue=False)
        queue_tab.select(queue_ui.refresh, [queue_ui.job_id], [queue_ui.summary, queue_ui.table, queue_ui.job_log],
                         show_progress="hidden")

        demo.load(None, None, switch, js=i18n.APPLY_JS, queue=False)
        demo.load(lambda: _header(lab), None, header, queue=False)
        # gradio's own locale follows the browser and re-translates the open tab's button only: the
        # tab names come from the server too, in the language the page asked for.
        tab_list = [("launch", launch_tab), ("queue", queue_tab), ("compare", compare_tab), ("run", run_tab),
                    ("playground", playground_tab)]
        demo.load(lambda: [gr.Tab(label=t(f"tab_{name}")) for name, _ in tab_list], None, [tab for _, tab in tab_list],
                  queue=False)
        demo.load(None, None, None, js=OPEN_TAB_JS, queue=False)
        compare_tab.select(compare_ui.refresh, compare_ui.filters, compare_ui.outputs)
        compare_tab.select(compare_ui.show_study, [compare_ui.study_pick], compare_ui.study_outputs,
                           show_progress="hidden")
        run_tab.select(run_ui.choices, [run_ui.picker], [run_ui.picker])
        playground_tab.select(playground_ui.choices, [playground_ui.runs], [playground_ui.runs])

        def open_run(evt: gr.SelectData):
            row = evt.row_value or []
            if not row:
                return gr.skip(), gr.skip()
            try:
                choices = run_logic.run_choices(lab.runs())
            except Exception:  # noqa: BLE001 - the Run tab shows its own error on refresh
                return gr.skip(), gr.skip()
            return gr.update(choices=choices, value=int(row[0])), gr.Tabs(selected="run")

        compare_ui.table.select(open_run, None, [run_ui.picker, tabs])
        if policy.can_launch:
            demo.load(launch_ui.show_card, launch_ui.card_inputs, [launch_ui.card])
            # the Queue button counts the baselines this database lacks (validating imports the model stack:
            # on load, not while the app is built)
            demo.load(launch_ui.on_grid, launch_ui.grid_inputs, [launch_ui.queue_btn], queue=False)
            demo.load(queue_ui.refresh, [queue_ui.job_id], [queue_ui.summary, queue_ui.table, queue_ui.job_log])
        else:
            demo.load(compare_ui.refresh, compare_ui.filters, compare_ui.outputs)
    api.hide_page_events(demo)
    return demo
