"""Compare tab: filters, the charts of ftlab.charts, the runs table with its config diff, and
CSV / Parquet export."""

from __future__ import annotations

import logging
import tempfile
from types import SimpleNamespace

import gradio as gr

from ftlab import charts
from ftlab.errors import FtlabError, one_line
from ftlab.text import t
from ftlab.ui.access import visitor
from ftlab.ui.common import sized
from ftlab.ui.i18n import L
from ftlab.ui.logic import compare as compare_logic
from ftlab.ui.logic.format import status_markdown

log = logging.getLogger(__name__)
MAX_CURVES = 24  # more lines than this make the loss chart unreadable: the newest runs are drawn
HEIGHTS = {"score": 400, "bars": 420, "curves": 480}  # score: fits a 1280x800 screen under the filters
ROW_HEIGHT = 300  # each further row of a chart's panels


def _score(runs, curves):
    datasets = set(runs["dataset"].dropna().unique()) if len(runs) and "dataset" in runs else set()
    reference = charts.references_for(next(iter(datasets))) if len(datasets) == 1 else None
    return charts.score_vs_params(runs, reference=reference)  # axes fixed there: whole decades, scores in 0-100%


# The Compare tab's charts: name -> (draw(runs, curves), height, drawn only when it has points). A chart
# is its function in ftlab.charts, its catalogue keys, a line here and its place in `build`.
CHARTS = {
    "score": (_score, HEIGHTS["score"], False),
    "curve": (lambda runs, c: charts.learning_curve(runs), HEIGHTS["score"], True),
    "forgetting": (lambda runs, c: charts.forgetting(runs), HEIGHTS["score"], True),
    "general": (lambda runs, c: charts.general_forgetting(runs), HEIGHTS["score"], True),
    "throughput": (lambda runs, c: charts.throughput(runs), HEIGHTS["bars"], False),
    "memory": (lambda runs, c: charts.memory_and_time(runs), HEIGHTS["bars"], False),
    "loss": (lambda runs, c: charts.loss_curves(c["steps"], runs, smoothing=c["smoothing"]), HEIGHTS["curves"], False),
    "eval": (lambda runs, c: charts.eval_curves(c["evals"], runs=runs), HEIGHTS["curves"], False),
}


def figures(lab, runs, smoothing: float = charts.LOSS_SMOOTHING) -> dict:
    """The Compare tab's figures for these (already filtered) runs, by CHARTS name."""
    runs = charts.prepared(runs)
    ids = [int(i) for i in runs["id"]][-MAX_CURVES:] if len(runs) else []
    steps, evals = lab.curves(ids) if ids else (None, None)
    curves = {"steps": steps, "evals": evals, "smoothing": min(max(float(smoothing or 0), 0.0), 0.99)}
    out = {}
    for name, (draw, height, _) in CHARTS.items():
        fig = draw(runs, curves)
        meta = fig.layout.meta or {}
        rows = int(meta.get("rows") or 1)  # small multiples: a row of panels each
        # bar charts: as tall as their rows of settings need
        out[name] = sized(fig, max(height + (rows - 1) * ROW_HEIGHT, int(meta.get("height") or 0)))
    return out


def build(lab) -> SimpleNamespace:
    with gr.Row(equal_height=False):
        f_experiment = gr.Dropdown([(t("compare_latest"), compare_logic.LATEST)], value=[compare_logic.LATEST],
                                   multiselect=True, label=L("compare_experiments"), info=L("compare_experiments_info"),
                                   elem_id="compare-experiment", scale=6)
        rename_box = gr.Textbox(label=L("compare_rename"), info=L("compare_rename_info"), elem_id="compare-rename",
                                scale=3, max_lines=1)
        rename_btn = gr.Button(L("compare_rename_button"), size="sm", elem_id="compare-rename-button", scale=1,
                               min_width=90)
    with gr.Row(equal_height=False):
        f_dataset = gr.Dropdown([], multiselect=True, label=L("launch_dataset"), info=L("compare_dataset_info"),
                                elem_id="compare-dataset", scale=3)
        f_model = gr.Dropdown([], multiselect=True, label=L("compare_model"), info=L("compare_model_info"),
                              elem_id="compare-model", scale=2)
        f_method = gr.Dropdown([], multiselect=True, label=L("launch_methods"), info=L("compare_methods_info"),
                               elem_id="compare-method", scale=3)
        f_status = gr.Dropdown([(L(f"status_{s}"), s) for s in ("succeeded", "running", "queued", "failed", "canceled",
                                                                 "interrupted")],
                               value=["succeeded"], multiselect=True, label=L("compare_status"),
                               info=L("compare_status_info"),
                               elem_id="compare-status", scale=2)
        refresh_btn = gr.Button(L("refresh"), size="sm", elem_id="compare-refresh", scale=1, min_width=90)
    caption = gr.Markdown(elem_id="compare-caption")
    shown_ids = gr.State([])  # the experiment ids the charts show (the picker's "latest" resolved)
    versus = gr.Markdown(elem_id="compare-versus-full", elem_classes="ftlab-compact")
    plots = {}
    plots["score"] = gr.Plot(elem_id="compare-score", show_label=False)
    verdict = gr.Markdown(elem_id="compare-verdicts", elem_classes="ftlab-compact")
    with gr.Row():
        plots["curve"] = gr.Plot(elem_id="compare-curve", show_label=False, visible=False)
        plots["forgetting"] = gr.Plot(elem_id="compare-forgetting", show_label=False, visible=False)
        plots["general"] = gr.Plot(elem_id="compare-general", show_label=False, visible=False)
    # full width, one under the other: a setting's name reads on the bars' axis
    plots["throughput"] = gr.Plot(elem_id="compare-throughput", show_label=False)
    plots["memory"] = gr.Plot(elem_id="compare-memory", show_label=False)
    smoothing = gr.Slider(0, 0.99, value=charts.LOSS_SMOOTHING, step=0.01, label=L("compare_smoothing"),
                          info=L("compare_smoothing_info"), elem_id="compare-smoothing")
    # full width: each run's name (method, what sets it apart, seed, id) reads in the legend beside
    plots["loss"] = gr.Plot(elem_id="compare-loss", show_label=False)
    plots["eval"] = gr.Plot(elem_id="compare-eval", show_label=False)
    assert set(plots) == set(CHARTS)
    table = gr.Dataframe(interactive=False, wrap=False, max_height=420, elem_id="compare-table",
                         label=L("compare_table"))
    with gr.Row(equal_height=True):
        csv_btn = gr.Button(L("export_csv"), size="sm", elem_id="compare-export-csv", scale=1)
        parquet_btn = gr.Button(L("export_parquet"), size="sm", elem_id="compare-export-parquet", scale=1)
        export_status = gr.Markdown(elem_id="compare-export-status", container=False)
    export_file = gr.File(label=L("compare_export_file"), interactive=False, visible=False,
                          elem_id="compare-export-file", height=90)
    with gr.Accordion(L("studies_accordion"), open=False, elem_id="compare-studies"):
        with gr.Row():
            study_pick = gr.Dropdown([], label=L("study_label"), info=L("study_info"),
                                     elem_id="compare-study", scale=4)
            study_btn = gr.Button(L("studies_refresh"), size="sm", elem_id="compare-study-refresh", scale=1,
                                  min_width=90)
        study_text = gr.Markdown(elem_id="compare-study-text")
        with gr.Row():
            history_plot = gr.Plot(elem_id="compare-study-history", show_label=False)
            importance_plot = gr.Plot(elem_id="compare-study-importance", show_label=False)
        parallel_plot = gr.Plot(elem_id="compare-study-parallel", show_label=False)

    filters = [f_experiment, f_dataset, f_model, f_method, f_status, smoothing]

    def load_runs(chosen, datasets, models, methods, statuses):
        runs, experiments = lab.runs_df(), lab.experiments()
        ids = compare_logic.chosen_experiments(chosen, experiments)
        selected = compare_logic.select_runs(runs, ids)
        return runs, experiments, ids, compare_logic.filter_runs(selected, datasets, models, methods, statuses)

    def refresh(chosen, datasets, models, methods, statuses, smooth=charts.LOSS_SMOOTHING) -> dict:
        try:
            everything, experiments, ids, runs = load_runs(chosen, datasets, models, methods, statuses)
            runs = charts.prepared(runs)  # each stored config parsed once for every chart and table
            figs = figures(lab, runs, smooth)
            answers = {versus: compare_logic.versus_full_markdown(runs), verdict: compare_logic.verdicts_markdown(runs),
                       table: compare_logic.runs_table(runs, limit=compare_logic.MAX_TABLE_ROWS)}
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("compare")
            return {caption: status_markdown(one_line(err), ok=False)}
        choices = compare_logic.filter_choices(everything)
        n_ok = int((runs["status"] == "succeeded").sum()) if len(runs) else 0
        shown = {plots[name]: gr.update(value=fig, visible=bool((fig.layout.meta or {}).get("n_points")))
                 if CHARTS[name][2] else fig for name, fig in figs.items()}
        names = {e["id"]: compare_logic.experiment_name(e) for e in experiments}
        words = t("compare_caption_experiment", names=" · ".join(names.get(i, i) for i in ids), shown=len(runs), ok=n_ok,
                  total=len(everything)) if ids else t("compare_caption", shown=len(runs), ok=n_ok, total=len(everything))
        if len(runs) > compare_logic.MAX_TABLE_ROWS:
            words += " " + t("compare_table_recent", n=f"{compare_logic.MAX_TABLE_ROWS:,}")
        return {caption: words, f_experiment: gr.update(choices=compare_logic.experiment_choices(experiments)),
                shown_ids: ids or [], **answers, **shown,
                f_dataset: gr.update(choices=choices["dataset"]), f_model: gr.update(choices=choices["model"]),
                f_method: gr.update(choices=choices["method"])}

    outputs = [caption, versus, verdict, *plots.values(), table, f_experiment, f_dataset, f_model, f_method, shown_ids]
    gr.on([refresh_btn.click, *(f.input for f in filters[:5]), smoothing.release], refresh, filters, outputs)

    def rename(request: gr.Request, profile: gr.OAuthProfile | None, chosen, datasets, models, methods, statuses,
               smooth, name, ids):
        try:
            # the experiments on screen, as the last refresh resolved them ("latest" may be newer by now)
            if len(ids or []) != 1:
                raise FtlabError(t("compare_rename_one"))
            lab.rename_experiment(ids[0], name, user=visitor(request, profile))
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("rename")
            return {caption: status_markdown(one_line(err), ok=False)}
        return {**refresh(chosen, datasets, models, methods, statuses, smooth), rename_box: "",
                caption: status_markdown(t("compare_renamed", name=name.strip()))}

    rename_btn.click(rename, filters + [rename_box, shown_ids], outputs + [rename_box])

    def export(fmt):
        def run(chosen, datasets, models, methods, statuses, _smoothing=None):
            try:
                *_, runs = load_runs(chosen, datasets, models, methods, statuses)
                path = compare_logic.export_runs(runs, fmt, tempfile.mkdtemp(prefix="ftlab-export-"))
            except Exception as err:
                if not isinstance(err, FtlabError):
                    log.exception("export")
                return gr.update(value=None, visible=False), status_markdown(one_line(err), ok=False)
            return (gr.update(value=path, visible=True),
                    status_markdown(t("compare_exported", n=len(runs), fmt=fmt.upper())))
        return run

    def show_study(study_id=None) -> dict:
        try:
            studies = lab.studies()
            choices = compare_logic.study_choices(studies)
            study_id = study_id if any(v == study_id for _, v in choices) else (choices[0][1] if choices else None)
            study = next((st for st in studies if st["id"] == study_id), None)
            figs = lab.study_figures(study_id) if study_id else {}
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("studies")
            return {study_text: status_markdown(one_line(err), ok=False)}
        blank = charts.empty_figure(t("chart_needs_trials"))
        return {study_pick: gr.update(choices=choices, value=study_id), study_text: compare_logic.study_markdown(study),
                history_plot: sized(figs.get("history", blank), HEIGHTS["bars"]),
                importance_plot: sized(figs.get("importance", charts.empty_figure(t("chart_needs_two_trials"))),
                                       HEIGHTS["bars"]),
                parallel_plot: sized(figs.get("parallel", blank), HEIGHTS["bars"])}

    study_outputs = [study_pick, study_text, history_plot, importance_plot, parallel_plot]
    gr.on([study_btn.click, study_pick.input], show_study, [study_pick], study_outputs)

    csv_btn.click(export("csv"), filters, [export_file, export_status])
    parquet_btn.click(export("parquet"), filters, [export_file, export_status])
    return SimpleNamespace(refresh=refresh, filters=filters, outputs=outputs, table=table, show_study=show_study,
                           study_pick=study_pick, study_outputs=study_outputs)
