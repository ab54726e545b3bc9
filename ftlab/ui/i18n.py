"""The dashboard in the browser's language (ftlab.text's catalogues), switchable on the page.

- Text fixed when the page is built (tab names, labels, help under fields, buttons) goes through
  gradio's own i18n: `L(key)` gives the translatable marker gradio's frontend looks up in `I18N`,
  which `Dashboard.launch` hands to gradio. `L(key, **fields)` formats the text of each language
  now and registers it under a derived key.
- Text built by a handler (Markdown, Plotly figures, status lines) uses `ftlab.text.t`, whose
  language this module resolves per request: the `ftlab_lang` cookie the page sets, else the
  request's Accept-Language.
- The language follows the browser; the header's language switch stores the choice in the
  browser (localStorage and the cookie) and reloads, and every later load applies it: the
  frontend's locale through gradio's own `changeLocale`, the server's through the cookie.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import gradio as gr

from ftlab import text

COOKIE = "ftlab_lang"
STORAGE = "ftlab-lang"
GRADIO_LOCALE = {"en": "en", "zh": "zh-CN"}  # gradio's own strings (its Settings, uploads) in the same language

_derived: dict[str, dict[str, str]] = {lang: {} for lang in text.LANGS}


def _request_lang() -> Optional[str]:
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    if request is None:
        return None
    cookie = (getattr(request, "cookies", None) or {}).get(COOKIE)
    return text.normalize(cookie) or text.from_accept_language((request.headers or {}).get("accept-language"))


text.resolver = _request_lang


def L(key: str, default: Optional[str] = None, **fields) -> gr.I18nData:  # noqa: N802 - reads like t()
    """A translatable marker for a component's text. With `fields` (or a `default`, the English
    text defined next to what it describes), each language's text is formatted now and kept under
    a derived key."""
    if not fields and default is None:
        return I18N(key)
    texts = {lang: text.t(key, default, lang_code=lang, **fields) for lang in text.LANGS}
    derived = f"{key}__{hashlib.sha1(repr(sorted(texts.items())).encode()).hexdigest()[:10]}"
    for lang, value in texts.items():
        _derived[lang][derived] = value
    return I18N(derived)


class _Catalogues(gr.I18n):
    """gr.I18n over ftlab.text's catalogues plus the derived keys, read when gradio serves the
    page's config (after the page was built)."""

    @property
    def translations_dict(self) -> dict[str, dict[str, str]]:
        out = {}
        for lang in text.LANGS:
            merged = {**text.catalogue(lang), **_derived[lang]}
            out[lang] = merged
            if lang == "zh":
                out["zh-CN"] = merged  # gradio's own locale name for the page's Chinese
        return out


I18N = _Catalogues()


class Dashboard(gr.Blocks):
    """gr.Blocks that launches with ftlab's catalogues, however it is launched."""

    def launch(self, *args, **kwargs):
        kwargs.setdefault("i18n", I18N)
        return super().launch(*args, **kwargs)


# Before the page mounts: the saved choice sets the cookie the server reads.
HEAD = ("<script>(function(){try{var s=localStorage.getItem('%s');if(s){document.cookie='%s='+s+'; path=/; "
        "SameSite=Lax';}}catch(e){}})();</script>" % (STORAGE, COOKIE))
# On load: apply a saved choice to gradio's locale (its module's own changeLocale) and show it in
# the switch; without one, the browser's language.
APPLY_JS = """async () => {
  let saved = null; try { saved = localStorage.getItem('%(storage)s'); } catch (e) {}
  const lang = saved || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  if (saved) {
    const core = performance.getEntriesByType('resource').map(e => e.name).find(n => /\\/core-[^/]*\\.js$/.test(n));
    if (core) { try { const m = await import(core); if (m.changeLocale) m.changeLocale(%(gradio)s[saved] || saved); }
                catch (e) { console.warn('ftlab: language', e); } }
  }
  return lang;
}""" % {"storage": STORAGE, "gradio": str(GRADIO_LOCALE).replace("'", '"')}
SWITCH_JS = """(lang) => { try { localStorage.setItem('%s', lang); } catch (e) {}
  document.cookie = '%s=' + lang + '; path=/; SameSite=Lax'; window.location.reload(); }""" % (STORAGE, COOKIE)


def language_switch() -> gr.Radio:
    """The header's language choice; its value is set on load, and a person's choice reloads."""
    switch = gr.Radio([(text.LANG_NAMES[c], c) for c in text.LANGS], value=None, show_label=False,
                      container=False, elem_id="language", scale=0, min_width=230)
    switch.input(None, switch, None, js=SWITCH_JS)
    return switch
