"""Launch tab: model, dataset (+ card), methods and their options, seeds, training options, an
estimate, and one button that validates the whole grid and queues it."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import gradio as gr

from ftlab import methods as method_registry
from ftlab import models as model_registry
from ftlab import tracking
from ftlab.data import list_datasets
from ftlab.errors import FtlabError, one_line
from ftlab.text import Tr, t
from ftlab.ui.access import visitor
from ftlab.ui.common import IMPORT_LOCK
from ftlab.ui.i18n import L
from ftlab.ui.logic import launch as launch_logic
from ftlab.ui.logic import preview as preview_logic
from ftlab.ui.logic.format import status_markdown
from ftlab.uploads import MAX_BYTES as MAX_UPLOAD_BYTES
from ftlab.uploads import SUFFIXES as UPLOAD_SUFFIXES

log = logging.getLogger(__name__)



def _help(name: str):
    """A RunConfig field's help, translated (zh.yaml field_<name>) where the catalogue has it."""
    return L(f"field_{name}", launch_logic.english_help(name))


def _number(name: str, default, label: str | None = None):
    kind = {n: k for n, k, _ in launch_logic.TRAINING_FIELDS}[name]
    precision = 0 if kind in ("int", "optint") else None
    return gr.Number(value=default, label=label or name, info=_help(name), precision=precision,
                     elem_id=f"launch-{name.replace('_', '-')}", min_width=150)


def _training_widget(name: str, kind, default):
    if name == "lr":
        return gr.Textbox(value=default, label="lr", info=_help("lr"), placeholder=L("lr_placeholder"),
                          elem_id="launch-lr", min_width=150)
    if isinstance(kind, tuple):
        return gr.Dropdown(list(kind), value=default, label=name, info=_help(name),
                           elem_id=f"launch-{name}", min_width=150)
    if kind == "trackers":
        return gr.CheckboxGroup(list(tracking.NAMES), value=default, label=name, info=_help(name),
                                elem_id=f"launch-{name.replace('_', '-')}", min_width=150)
    if kind == "bool":
        return gr.Checkbox(value=default, label=name, info=_help(name), elem_id=f"launch-{name}",
                           min_width=max(150, 10 * len(name)))  # the label on one line
    if kind == "text":
        return gr.Textbox(value=default, label=name, info=_help(name), elem_id=f"launch-{name}",
                          min_width=150)
    return _number(name, default)


def _methods_markdown() -> str:
    lines = [t("methods_table_header"), "|---|---|---:|---|---|---|"]
    for m in method_registry.list_methods():
        lines.append(f"| `{m.name}` | {t('family_' + m.family)} | {m.default_lr:g} | {', '.join(t('task_' + x, x) for x in sorted(m.tasks))} | "
                     f"{', '.join(sorted(m.quantized)) or '-'} | {t('method_' + m.name, m.help)} |")
    return "\n".join(lines)


def _placeholder(rows: list[dict]):
    """An example line: a numeric option at its default, else a flag, else target modules."""
    if not rows:
        return L("opts_none")
    numeric = [r for r in rows if isinstance(r["default"], (int, float)) and not isinstance(r["default"], bool)]
    flags = [r for r in rows if isinstance(r["default"], bool)]
    if numeric:
        return L("opts_example", example=f"{numeric[0]['name']}={numeric[0]['default']}")
    if flags:
        return L("opts_example", example=f"{flags[0]['name']}={str(not flags[0]['default']).lower()}")
    return L("opts_example", example=f"{rows[0]['name']}=[query, value]")


def build(lab) -> SimpleNamespace:
    all_methods = method_registry.list_methods()
    names = [m.name for m in all_methods]
    builtin_data = [d.name for d in list_datasets()]
    caps = lab.policy.caps
    model_names = [m.name for m in model_registry.list_models() if caps is None or m.name in caps.models]

    with gr.Row(equal_height=False):
        # Left: what to train. Right: what the data looks like, what it will cost, and the button.
        with gr.Column(scale=5):
            gr.Markdown(L("launch_intro"))
            if lab.policy.describe():
                gr.Markdown(lab.policy.describe, elem_id="launch-policy", elem_classes="ftlab-policy")
            with gr.Row():
                model = gr.Dropdown(model_names, value=launch_logic.DEFAULT_MODEL, allow_custom_value=caps is None,
                                    label=L("launch_model"), info=_help("model"), elem_id="launch-model")
                dataset = gr.Dropdown(builtin_data, value=launch_logic.DEFAULT_DATASET,
                                      allow_custom_value=caps is None or caps.hub_datasets,
                                      label=L("launch_dataset"), info=_help("dataset"), elem_id="launch-dataset")
            model_about = gr.Markdown(lambda: launch_logic.model_markdown(launch_logic.DEFAULT_MODEL),
                                      elem_id="launch-model-about",
                                      elem_classes="ftlab-help")
            model.change(launch_logic.model_markdown, model, model_about, queue=False)
            upload = gr.UploadButton(L("launch_upload", mb=MAX_UPLOAD_BYTES // 2**20),
                                     file_types=list(UPLOAD_SUFFIXES),
                                     size="sm", elem_id="launch-upload")
            with gr.Accordion(L("data_accordion"), open=False), gr.Row():
                data_widgets = {name: gr.Textbox(label=L(f"data_{name}"), info=_help(name),
                                                 elem_id=f"launch-{name}")
                                for name in launch_logic.DATA_FIELDS}
            method_box = gr.CheckboxGroup(names, value=launch_logic.DEFAULT_METHODS, label=L("launch_methods"),
                                          info=L("launch_methods_info"),
                                          elem_id="launch-methods")
            with gr.Accordion(L("methods_accordion"), open=False):
                gr.Markdown(_methods_markdown)
            option_boxes, option_groups = {}, {}
            with gr.Row():
                for m in all_methods:
                    rows = method_registry.option_help(m)
                    with gr.Column(visible=m.name in launch_logic.DEFAULT_METHODS, min_width=220) as group:
                        option_boxes[m.name] = gr.Textbox(
                            label=L("opts_label", name=m.name), lines=2, placeholder=_placeholder(rows),
                            interactive=bool(rows), info=L("opts_info", help=Tr(f"method_{m.name}", m.help)),
                            elem_id=f"launch-opts-{m.name}")
                        with gr.Accordion(L("opts_accordion", name=m.name), open=False):
                            gr.Markdown(lambda rows=rows: launch_logic.options_table(rows))
                    option_groups[m.name] = group
            gr.Markdown(L("seeds_heading"))
            training = {}
            main = [f for f in launch_logic.TRAINING_FIELDS if f[0] in launch_logic.MAIN_TRAINING_FIELDS]
            with gr.Row():
                seeds = gr.Number(value=launch_logic.DEFAULT_SEEDS, label=L("seeds_label"), precision=0, minimum=1,
                                  maximum=launch_logic.MAX_SEEDS, info=L("seeds_help"), elem_id="launch-seeds",
                                  min_width=150)
                for name, kind, default in main[:2]:
                    training[name] = _training_widget(name, kind, default)
            for chunk in (main[2:5], main[5:8]):
                with gr.Row():
                    for name, kind, default in chunk:
                        training[name] = _training_widget(name, kind, default)
            training["train_sizes"] = gr.Textbox(label=L("sizes_label"), value="",
                                                 placeholder=launch_logic.CURVE_SIZES,
                                                 info=L("sizes_help", sizes=launch_logic.CURVE_SIZES),
                                                 elem_id="launch-train-sizes")
            with gr.Row():
                tune = gr.Checkbox(False, label=L("tune_label"), info=L("tune_help"), elem_id="launch-tune")
                trials = gr.Number(value=6, label=L("trials_label"), precision=0, minimum=2, maximum=50,
                                   info=L("trials_help"), elem_id="launch-trials",
                                   min_width=150)
            with gr.Accordion(L("advanced_accordion"), open=False):
                advanced = [f for f in launch_logic.TRAINING_FIELDS if f[0] not in launch_logic.MAIN_TRAINING_FIELDS]
                with gr.Row():
                    first_seed = gr.Number(value=0, label="first_seed", precision=0, minimum=0, info=L("first_seed_help"),
                                           elem_id="launch-first-seed", min_width=150)
                    for name, kind, default in advanced[:3]:
                        training[name] = _training_widget(name, kind, default)
                for chunk in (advanced[3:7], advanced[7:11], advanced[11:]):
                    with gr.Row():
                        for name, kind, default in chunk:
                            training[name] = _training_widget(name, kind, default)
        with gr.Column(scale=4):
            card = gr.Markdown(L("card_loading"), elem_id="launch-card", elem_classes="ftlab-compact",
                               container=True, min_height=120)
            with gr.Row():
                estimate_btn = gr.Button(L("estimate_button"), size="md", elem_id="launch-estimate", scale=1)
                queue_btn = gr.Button(lambda: launch_logic.queue_label(launch_logic.DEFAULT_METHODS,
                                                                       launch_logic.DEFAULT_SEEDS),
                                      size="md", variant="primary", elem_id="launch-queue", scale=1)
            status = gr.Markdown(elem_id="launch-status")
            estimate_out = gr.Dataframe(visible=False, interactive=False, elem_id="launch-estimate-table", wrap=False,
                                        label=L("estimate_table_label"))

    form_inputs = {model, dataset, method_box, seeds, first_seed, *training.values(), *data_widgets.values(),
                   *option_boxes.values()}

    def read_form(values: dict) -> launch_logic.Grid:
        """The form's widgets (gradio's {component: value}) -> the launch's grid of RunConfigs, or its errors."""
        train_v = {name: values[w] for name, w in training.items()}
        train_v.update({name: values[w] for name, w in data_widgets.items()})
        texts = {name: values[w] for name, w in option_boxes.items()}
        with IMPORT_LOCK:  # validating a peft method's options imports peft
            return launch_logic.build_grid(values[model], values[dataset], values[method_box], texts, values[seeds],
                                           values[first_seed], train_v)

    # ---- events ---------------------------------------------------------------------------------
    def on_methods(selected) -> dict:
        return {group: gr.update(visible=name in (selected or [])) for name, group in option_groups.items()}

    method_box.change(on_methods, [method_box], list(option_groups.values()), queue=False)
    sizes_box = training["train_sizes"]

    def on_grid(values: dict):
        """The button says what it will queue: the runs, the baselines this database lacks, a study's trials."""
        n_baselines = 0
        try:
            grid = read_form(values)
            if grid.ok:
                n_baselines = len(lab.missing_baselines(grid.configs))
        except Exception:  # noqa: BLE001 - a label; the Queue button reports what is wrong
            log.debug("queue label", exc_info=True)
        n_trials = int(values[trials] or 0) if values[tune] else 0
        return gr.update(value=launch_logic.queue_label(values[method_box], values[seeds], values[sizes_box],
                                                        baselines=n_baselines, trials=n_trials))

    def show_card(spec, model_name, max_length, text_column, label_column, encoding, request: gr.Request = None,
                  profile: gr.OAuthProfile | None = None):
        spec = (spec or "").strip()
        if not spec:
            return t("card_pick")
        try:
            length = int(max_length) if max_length else 128
            with IMPORT_LOCK:
                card_data = lab.dataset_card(spec, model=(model_name or "").strip() or None, max_length=length,
                                             text_column=(text_column or "").strip() or None,
                                             label_column=(label_column or "").strip() or None,
                                             encoding=(encoding or "").strip() or None,
                                             user=visitor(request, profile))
            return preview_logic.card_markdown(card_data)
        except Exception as err:  # one line on the page; anything unexpected is logged in full
            if not isinstance(err, FtlabError):
                log.exception("dataset card of %s", spec)
            return status_markdown(one_line(err, launch_logic.page_label), ok=False)

    sized = [training[name] for name in launch_logic.SIZED_BY_TASK]

    def on_dataset_task(spec, model_name, *values):
        """Sizes and a model that suit the picked dataset's task (a generative set writes every answer)."""
        changes = launch_logic.task_form_values((spec or "").strip(), (model_name or "").strip(),
                                                dict(zip(launch_logic.SIZED_BY_TASK, values)))
        return [gr.update(value=changes["model"]) if "model" in changes else gr.skip()] + [
            gr.update(value=changes[name]) if name in changes else gr.skip() for name in launch_logic.SIZED_BY_TASK]

    dataset.change(on_dataset_task, [dataset, model, *sized], [model, *sized], queue=False)

    card_inputs = [dataset, model, training["max_length"], *data_widgets.values()]
    # one card at a time, in the order asked: a slow card (a model converted on first use) never
    # lands after, and over, the card of a later choice
    in_order = {"concurrency_limit": 1, "concurrency_id": "dataset-card"}
    dataset.change(show_card, card_inputs, [card], **in_order)
    model.change(show_card, card_inputs, [card], **in_order)
    for widget in card_inputs[2:]:  # max_length (truncation rate), a file's columns and encoding
        widget.blur(show_card, card_inputs, [card], **in_order)

    def on_upload(request: gr.Request, profile: gr.OAuthProfile | None, file):
        if file is None:
            return gr.skip(), gr.skip()
        path = file if isinstance(file, str) else getattr(file, "name", None)
        try:
            saved = lab.save_upload(path, user=visitor(request, profile))
        except Exception as err:  # noqa: BLE001
            return gr.skip(), status_markdown(one_line(err, launch_logic.page_label), ok=False)
        return (gr.update(choices=builtin_data + [saved], value=saved),
                status_markdown(t("upload_saved", name=saved)))

    upload.upload(on_upload, [upload], [dataset, status])

    def on_estimate(request: gr.Request, profile: gr.OAuthProfile | None, values: dict) -> dict:
        try:
            grid = read_form(values)
            if not grid.ok:
                return {status: launch_logic.errors_markdown(grid.errors, t("estimate_fix")),
                        estimate_out: gr.update(visible=False)}
            n_trials = int(values[trials] or 0) if values[tune] else 0
            text, table = preview_logic.estimate_launch(lab, grid.configs, visitor(request, profile), IMPORT_LOCK,
                                                        trials=n_trials)
        except Exception as err:  # refusals come back as text; an exception here is a bug
            log.exception("estimate")
            return {status: status_markdown(one_line(err, launch_logic.page_label), ok=False),
                    estimate_out: gr.update(visible=False)}
        return {status: text, estimate_out: gr.update(value=table, visible=True) if table is not None
                else gr.update(visible=False)}

    estimate_btn.click(on_estimate, form_inputs | {tune, trials}, [status, estimate_out])
    grid_inputs = form_inputs | {tune, trials}
    gr.on([method_box.change, seeds.change, sizes_box.change, model.change, dataset.change, tune.change,
           trials.change], on_grid, grid_inputs, [queue_btn], queue=False)
    return SimpleNamespace(queue_btn=queue_btn, status=status, form_inputs=form_inputs, read_form=read_form,
                           on_grid=on_grid, grid_inputs=grid_inputs,
                           tune=tune, trials=trials,
                           model=model, dataset=dataset, card=card, show_card=show_card, card_inputs=card_inputs)


def wire_queue(lab, ui: SimpleNamespace, tabs, queue_ui: SimpleNamespace) -> None:
    """The "Queue N runs" button: validate every RunConfig, submit them all or none, go to Queue
    with its table already showing the new jobs."""

    def on_queue(request: gr.Request, profile: gr.OAuthProfile | None, values: dict):
        tune_on, n_trials = values[ui.tune], values[ui.trials]
        try:
            grid = ui.read_form(values)
        except Exception as err:  # build_grid returns user errors; an exception here is a bug
            log.exception("queue form")
            return status_markdown(t("nothing_queued") + one_line(err, launch_logic.page_label), ok=False), \
                gr.skip(), gr.skip(), gr.skip()
        if tune_on and grid.ok:
            return on_tune(grid, n_trials)
        try:
            ids, refused = launch_logic.submit_grid(
                grid, lambda configs: lab.submit(configs, owner=visitor(request, profile), baselines=True))
        except Exception as err:  # a bug, not a refusal: logged in full, one line on the page
            log.exception("submit")
            refused = status_markdown(t("nothing_queued") + one_line(err, launch_logic.page_label), ok=False)
        if refused:
            return refused, gr.skip(), gr.skip(), gr.skip()
        gr.Info(t("queued_toast", n=len(ids)))
        summary, table, _ = queue_ui.refresh("")
        extra = len(ids) - len(grid.configs)
        baselines = t("queued_baselines", n=extra) if extra else ""
        return (status_markdown(t("queued", n=len(ids), baselines=baselines, ids=", ".join(ids))),
                gr.Tabs(selected="queue"), summary, table)

    def on_tune(grid, n_trials):
        names = list(dict.fromkeys(c.method for c in grid.configs))
        seeds = len(grid.configs) // len(names)
        try:
            if not lab.policy.is_open:
                raise FtlabError(t("tuning_off"))
            if len({c.max_train for c in grid.configs}) > 1:
                raise FtlabError(t("tuning_one_size"))
            studies = lab.tune(grid.configs[0], names, trials=int(n_trials or 6), seeds=seeds)
        except Exception as err:
            if not isinstance(err, FtlabError):
                log.exception("tune")
            return status_markdown(t("nothing_queued") + one_line(err, launch_logic.page_label), ok=False), \
                gr.skip(), gr.skip(), gr.skip()
        summary, table, _ = queue_ui.refresh("")
        return (status_markdown(t("tuning_queued", methods=", ".join(names), studies=len(studies),
                                  trials=int(n_trials or 6), seeds=seeds)), gr.Tabs(selected="queue"), summary, table)

    ui.queue_btn.click(on_queue, ui.form_inputs | {ui.tune, ui.trials},
                       [ui.status, tabs, queue_ui.summary, queue_ui.table])

