"""The words the dashboard shows, in English and Simplified Chinese: one catalogue per language.

`ftlab/locales/en.yaml` and `zh.yaml` map keys to text (Python `str.format` fields for numbers
and names, formatted the same way in both languages). `t(key, **fields)` looks a key up in the
current language; a key the Chinese catalogue lacks falls back to English, and a key English
lacks is a bug (KeyError). Text defined next to what it describes (a RunConfig field's help, a
method's description) is English there, and its Chinese form sits in zh.yaml under
`field_<name>` / `method_<name>`: `t` takes that English text as `default`.

The current language is "en" unless the dashboard installed a `resolver` (ftlab.ui.i18n: the
language of the browser that sent the request) or a block runs inside `using(lang)`. The command
line and the logs never install one: they stay English.

Imports the standard library and yaml only, so charts and the UI's logic can use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import yaml

LANGS = ("en", "zh")
LANG_NAMES = {"en": "English", "zh": "中文"}
LOCALES = Path(__file__).with_name("locales")

_forced: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("ftlab_lang", default=None)
resolver: Optional[Callable[[], Optional[str]]] = None  # set by the dashboard


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """The whole catalogue of one language, key -> text."""
    data = yaml.safe_load((LOCALES / f"{lang}.yaml").read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


def normalize(code: Optional[str]) -> Optional[str]:
    """A browser language tag -> one of LANGS ("zh-CN", "zh-Hans" -> "zh"; "en-GB" -> "en"), or None."""
    code = (code or "").strip().lower().replace("_", "-")
    if not code:
        return None
    base = code.split("-")[0]
    return base if base in LANGS else None


def from_accept_language(header: Optional[str]) -> Optional[str]:
    """The first supported language of an Accept-Language header, by weight."""
    ranked = []
    for i, part in enumerate((header or "").split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            q = float(weight) if weight else 1.0
        except ValueError:
            q = 0.0
        ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        lang = normalize(tag)
        if lang:
            return lang
    return None


def lang() -> str:
    """The language text is wanted in now."""
    forced = _forced.get()
    if forced:
        return forced
    if resolver is not None:
        try:
            return normalize(resolver()) or "en"
        except Exception:  # noqa: BLE001 - a language lookup never breaks a page
            return "en"
    return "en"


@contextlib.contextmanager
def using(code: str) -> Iterator[None]:
    """Text inside the block comes out in `code`."""
    token = _forced.set(normalize(code) or "en")
    try:
        yield
    finally:
        _forced.reset(token)


@dataclass(frozen=True)
class Tr:
    """Text to look up later, in whatever language the text it fills in is rendered in."""
    key: str
    default: Optional[str] = None

    def render(self, code: str) -> str:
        return t(self.key, self.default, lang_code=code)


def t(key: str, default: Optional[str] = None, *, lang_code: Optional[str] = None, **fields) -> str:
    """The text of `key` in the current language (or `lang_code`), formatted with `fields` (a `Tr`
    field is looked up in the same language)."""
    code = lang_code or lang()
    fields = {k: v.render(code) if isinstance(v, Tr) else v for k, v in fields.items()}
    text = catalogue(code).get(key) if code != "en" else None
    if text is None:
        text = catalogue("en").get(key, default)
    if text is None:
        raise KeyError(f"no English text for {key!r} in {LOCALES / 'en.yaml'}")
    return text.format(**fields) if fields else text
