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
            if name in ("t", "L", "Tr") and call.args and isinstance(call.args[0], ast.Constant):
                has_default = len(call.args) > 1
                asked.append((path.name, call.lineno, call.args[0].value, has_default))
    assert len(asked) > 150
    assert [(f, line, key) for f, line, key, has_default in asked if key not in en and not has_default] == []
