"""Playground tab: type a text, pick up to four trained runs, and see each run's prediction and
probabilities side by side (NER: the entities highlighted; a generative run's answer streams in as
it is written)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import gradio as gr

from ftlab.text import t
from ftlab.ui.i18n import L

from ftlab.errors import FtlabError, one_line
from ftlab.ui.access import visitor
from ftlab.ui.common import IMPORT_LOCK
from ftlab.ui.logic import playground as playground_logic
from ftlab.ui.logic import run as run_logic
from ftlab.ui.logic.format import status_markdown

log = logging.getLogger(__name__)
MAX_RUNS = 4
# Okabe-Ito colours (colour-blind safe), light enough for text on top.
ENTITY_COLOURS = {"PER": "#56B4E9", "LOC": "#E69F00", "ORG": "#009E73", "MISC": "#CC79A7"}


def build(lab) -> SimpleNamespace:
    with gr.Row(equal_height=False):
        text = gr.Textbox(label=L("pg_text"), lines=3, elem_id="playground-text", placeholder=L("pg_placeholder"),
                          info=L("pg_text_info"), scale=3)
        with gr.Column(scale=2):
            runs = gr.Dropdown([], multiselect=True, max_choices=MAX_RUNS, label=L("pg_runs"),
                               info=L("pg_runs_info", n=MAX_RUNS), elem_id="playground-runs")
            with gr.Row():
                refresh_btn = gr.Button(L("pg_refresh"), size="sm", elem_id="playground-refresh")
                predict_btn = gr.Button(L("pg_predict"), variant="primary", size="sm", elem_id="playground-predict")
    status = gr.Markdown(elem_id="playground-status")
    headers, labels, highlights = [], [], []
    with gr.Row(equal_height=False):
        for i in range(MAX_RUNS):
            with gr.Column(min_width=240):
                headers.append(gr.Markdown(visible=False, elem_id=f"playground-head-{i}"))
                labels.append(gr.HTML(visible=False, elem_id=f"playground-label-{i}"))
                highlights.append(gr.HighlightedText(visible=False, show_label=False, show_legend=True,
                                                     color_map=ENTITY_COLOURS, combine_adjacent=False,
                                                     elem_id=f"playground-ner-{i}"))

    def choices(current=None, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        """Fresh choices (the runs whose weights this visitor may use); the user's pick stays, and
        with none the newest runs are picked."""
        try:
            everything = lab.usable_runs(visitor(request, profile))
            options = run_logic.run_choices(everything, with_artifacts=True, artifact_path=lab.artifact_path)
        except Exception as err:  # noqa: BLE001
            log.warning("playground choices: %s", err)
            return gr.skip()
        loadable = {i for _, i in options}
        kept = [int(i) for i in (current or []) if int(i) in loadable]
        picked = kept or [i for i in run_logic.default_picks(everything, MAX_RUNS) if i in loadable]
        return gr.update(choices=options, value=picked)

    refresh_btn.click(choices, [runs], [runs])

    def predict(sentence, picked, request: gr.Request = None, profile: gr.OAuthProfile | None = None):
        """Each picked run's prediction; a generative run's answer streams in as it is written."""
        user = visitor(request, profile)
        hidden = [gr.update(visible=False)] * (3 * MAX_RUNS)
        sentence = (sentence or "").strip()
        picked = list(picked or [])[:MAX_RUNS]
        if not sentence:
            yield [status_markdown(t("pg_type_text"), ok=False)] + hidden
            return
        if not picked:
            yield [status_markdown(t("pg_pick_run"), ok=False)] + hidden
            return
        heads, labs, highs, problems = [], [], [], []

        def shown(msg):
            pad = [gr.update(visible=False)] * (MAX_RUNS - len(heads))
            return [msg] + heads + pad + labs + pad + highs + pad

        for run_id in picked:
            name = f"**{run_logic.run_label(lab_run(run_id))}**"
            try:
                with IMPORT_LOCK:  # the first prediction imports torch and builds the model
                    answer = lab.stream(int(run_id), sentence, user=user)
                if answer is not None:  # generative: the words as they come
                    heads.append(gr.update(value=name, visible=True))
                    labs.append(gr.update(visible=False))
                    highs.append(gr.update(visible=False))
                    written = ""
                    for written in answer:
                        heads[-1] = gr.update(value=f"{name}\n\n{written}", visible=True)
                        yield shown(status_markdown(t("pg_writing", run=run_id)))
                    heads[-1] = gr.update(value=f"{name}\n\n{written or t('pg_no_answer')}", visible=True)
                    continue
                with IMPORT_LOCK:
                    out = lab.predict(int(run_id), [sentence], user=user)
                view = playground_logic.prediction_view(out["task"], out["predictions"][0], sentence)
            except Exception as err:
                if not isinstance(err, FtlabError):
                    log.exception("predict %s", run_id)
                problems.append(t("pg_run_problem", run=run_id, error=one_line(err)))
                continue
            # Classification: the bars name every class once; NER: the highlighted text needs the list.
            heads.append(gr.update(value=name if view["label"] is not None else f"{name}\n\n{view['text']}",
                                   visible=True))
            top = out["predictions"][0].get("label")
            labs.append(gr.update(value=playground_logic.probability_bars(view["label"], top) if view["label"] else "",
                                  visible=view["label"] is not None))
            highs.append(gr.update(value=view["highlight"], visible=view["highlight"] is not None))
        yield shown(status_markdown("; ".join(problems), ok=False) if problems
                    else status_markdown(t("pg_predicted", n=len(picked))))

    def lab_run(run_id):
        found = [r for r in lab.runs() if int(r["id"]) == int(run_id)]
        return found[0] if found else {"id": run_id}

    outputs = [status] + headers + labels + highlights
    predict_btn.click(predict, [text, runs], outputs)
    text.submit(predict, [text, runs], outputs)
    return SimpleNamespace(runs=runs, choices=choices)
