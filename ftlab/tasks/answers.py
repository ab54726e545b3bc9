"""How a generated answer is read: the part of a generation (and of a reference) that must match.

A rule is chosen per dataset (a built-in says which; files and Hub sets get one from their
answers, `infer_rule`) and a run can set another (`answer`):

- `number`: the number after `####` (GSM8K's convention), else the last number in the text;
  commas, a trailing `.0` and a leading `$` are dropped, so "1,200.00" and "1200" match.
- `first_line`: the first non-empty line, normalised.
- `normalized`: the whole text, lower-cased, without punctuation, articles (a, an, the) and extra
  spaces (SQuAD's normalisation).
- `regex:<pattern>`: the first match of a user's pattern (its first group when it has one),
  normalised; no match reads as empty, which never equals a reference.

Pure Python: the scorer, the dataset card and the Playground all use it.
"""

from __future__ import annotations

import re
import string
from typing import Optional

from ftlab.errors import ConfigError

RULES = ("number", "first_line", "normalized")
RULE_HELP = ("How answers are compared: 'number' (after ####, else the last number), 'first_line', "
             "'normalized' (lower case, no punctuation or articles), or 'regex:<pattern>' (first match, "
             "its first group if any). Empty: the dataset's own rule.")

_NUMBER = re.compile(r"(?<![\w.])-?\$?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def check_rule(rule: Optional[str]) -> Optional[str]:
    """The reason a rule is not usable, or None."""
    if not rule or rule in RULES:
        return None
    if rule.startswith("regex:"):
        try:
            re.compile(rule[6:])
        except re.error as err:
            return f"answer: the pattern {rule[6:]!r} is not a valid regular expression ({err})"
        return None if rule[6:] else "answer: 'regex:' needs a pattern after the colon"
    return f"answer: {rule!r} is not one of {', '.join(RULES)} or regex:<pattern>"


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _number(text: str) -> str:
    if "####" in text:
        after = _NUMBER.findall(text.rsplit("####", 1)[1])
        if after:
            return _clean_number(after[0])
    found = _NUMBER.findall(text)
    return _clean_number(found[-1]) if found else ""


def _clean_number(value: str) -> str:
    value = value.replace(",", "").replace("$", "")
    if value.lstrip("-").startswith("."):  # ".5" is 0.5
        value = value.replace(".", "0.", 1)
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return "0" if value in ("", "-", "-0") else value


def extract(text: str, rule: str) -> str:
    """The answer `rule` reads from `text` (a generation or a reference)."""
    if rule == "number":
        return _number(text)
    if rule == "first_line":
        return normalize(next((line for line in text.splitlines() if line.strip()), ""))
    if rule.startswith("regex:"):
        found = re.search(rule[6:], text)
        if not found:
            return ""
        # the first group that took part in the match (a|b alternatives leave the other None)
        return normalize(next((g for g in found.groups() if g is not None), found.group(0)))
    if rule == "normalized":
        return normalize(text)
    raise ConfigError(check_rule(rule) or f"answer: unknown rule {rule!r}")


def infer_rule(answers: list[str]) -> str:
    """A dataset's rule from its reference answers: `number` when they hold `#### N` or are
    numbers, else `normalized`."""
    sample = [a for a in answers[:500] if a.strip()]
    if not sample:
        return "normalized"
    if all("####" in a for a in sample) or all(_NUMBER.fullmatch(a.strip()) for a in sample):
        return "number"
    return "normalized"


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's token-overlap F1 of two normalised answers (1.0 when both are empty)."""
    pred, ref = prediction.split(), reference.split()
    if not pred or not ref:
        return float(pred == ref)
    common: dict = {}
    for token in ref:
        common[token] = common.get(token, 0) + 1
    overlap = 0
    for token in pred:
        if common.get(token, 0) > 0:
            common[token] -= 1
            overlap += 1
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)
