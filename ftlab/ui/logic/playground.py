"""The Playground tab's logic: one run's prediction as what the tab shows (a label's probabilities,
or NER entities highlighted).

Plain functions (no gradio, no torch/transformers); may import ftlab.errors and the other logic
modules. The entity spans come with each NER prediction (`Predictor.predict` in
ftlab.train.artifacts finds them with seqeval, the library that scores NER here): nothing here
parses BIO tags.
"""

from __future__ import annotations

import html

from ftlab.tasks import get_task
from ftlab.text import t


def highlight_segments(tokens: list[str], entities: list[dict], joiner: str = " ") -> list[tuple[str, str | None]]:
    """Words and entity spans ({"type", "start", "end"}: word indices, end exclusive) -> (text,
    entity type or None) segments for gr.HighlightedText: an entity's words are one segment; the
    joiner (a space, or nothing for Chinese) sits between words, with the plain text."""
    owner: list[int | None] = [None] * len(tokens)  # which entity each word belongs to
    for n, entity in enumerate(entities):
        for i in range(max(entity["start"], 0), min(entity["end"], len(tokens))):
            owner[i] = n
    segments: list[tuple[str, str | None]] = []

    def plain(text: str) -> None:
        if segments and segments[-1][1] is None:
            segments[-1] = (segments[-1][0] + text, None)
        elif text:
            segments.append((text, None))

    for i, word in enumerate(tokens):
        sep = joiner if i else ""
        if owner[i] is None:
            plain(sep + word)
        elif i and owner[i - 1] == owner[i]:  # the entity goes on
            segments[-1] = (segments[-1][0] + sep + word, segments[-1][1])
        else:  # a new entity: the separator stays with the plain text before it
            plain(sep)
            segments.append((word, entities[owner[i]]["type"]))
    return segments


def prediction_view(task: str, prediction: dict, text: str = "") -> dict:
    """One run's prediction (Predictor.predict) -> {"label": {label: prob} | None, "highlight":
    segments | None, "text": a one-line summary}. NER words are re-joined as the predictor split
    them: by spaces, or per character for text without spaces (Chinese)."""
    if "generation" in prediction:  # a generative run: what it wrote
        return {"label": None, "highlight": None, "text": prediction["generation"] or t("pg_no_answer")}
    if get_task(task).per_token:
        tokens = prediction.get("tokens", [])
        joiner = " " if " " in (text or "").strip() else ""
        ents = prediction.get("entities") or []
        text = ", ".join(f"{e['text']} ({e['type']})" for e in ents) or t("pg_no_entities")
        return {"label": None, "highlight": highlight_segments(tokens, ents, joiner), "text": text}
    probs = prediction.get("probs") or {}
    top = prediction.get("label")
    return {"label": {str(k): float(v) for k, v in probs.items()}, "highlight": None,
            "text": f"{top} ({probs.get(top, float('nan')):.1%})" if top is not None else ""}


def probability_bars(probs: dict, top: str | None = None) -> str:
    """A run's class probabilities as HTML bars in the labels' own order (every card lists the
    classes the same way, so cards compare at a glance); the predicted class is bold. The label is
    written once, beside its bar."""
    rows = []
    for name, p in probs.items():
        weight = "font-weight:700;" if name == top else ""
        rows.append(
            f'<div style="display:flex;align-items:center;gap:8px;margin:3px 0;{weight}">'
            f'<span style="width:34%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap">{html.escape(str(name))}</span>'
            f'<span style="flex:1;background:var(--background-fill-secondary);border-radius:3px;height:14px">'
            f'<span style="display:block;height:14px;border-radius:3px;width:{100 * float(p):.1f}%;'
            f'background:var(--color-accent)"></span></span>'
            f'<span style="width:52px;text-align:right">{100 * float(p):.1f}%</span></div>')
    return '<div class="ftlab-probs">' + "".join(rows) + "</div>"
