"""Local files: tables (CSV/TSV/JSONL/JSON) for classification, CoNLL for NER."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path

from ftlab.errors import DataError, field

from .common import Loaded, first_line, label_str, pick_column, read_text, sort_label_names
from .instructions import looks_instructional, to_pairs
from ftlab.tasks import get_task

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
CONLL_SUFFIXES = (".conll", ".bio", ".iob", ".txt")
TEXT_DEFAULTS = ("text", "sentence", "review", "content")
LABEL_DEFAULTS = ("label", "labels", "sentiment", "category", "class")


def _source(path: Path, used: str, given: str | None) -> str:
    """The absolute path, plus the encoding when it was guessed (guesses can be wrong)."""
    guessed = used != "utf-8" and not given
    return str(path.resolve()) + (f" (encoding detected: {used}; set {field('encoding')} if the text looks wrong)" if guessed else "")


def _records_from_json(text: str, name: str, lines: bool) -> list:
    if not lines:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg != "Extra data":
                raise DataError(f"cannot parse {name} as JSON: {e.msg} at line {e.lineno}; fix the file or save it as JSON lines (.jsonl).")
            lines = True  # one object per line saved as .json, as the Hub often does
        else:
            if isinstance(data, dict):  # {"data": [...]} or one list per column
                lists = [v for v in data.values() if isinstance(v, list)]
                if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
                    data = lists[0]
                elif lists and len(lists) == len(data) and len({len(v) for v in lists}) == 1:
                    data = [dict(zip(data, row)) for row in zip(*data.values())]
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise DataError(f"{name} must hold a list of objects like [{{\"text\": ..., \"label\": ...}}]; save one object per line as .jsonl.")
            return data
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"line {lineno} of {name} is not valid JSON ({e.msg}): {line[:80]!r}; each line must be one object.")
        if not isinstance(row, dict):
            raise DataError(f"line {lineno} of {name} is not a JSON object: {line[:80]!r}; each line must be like {{\"text\": ..., \"label\": ...}}.")
        records.append(row)
    return records


def table_columns(path: Path, encoding=None) -> list:
    """A table's column names, reading as little as its format allows (the first line of CSV,
    TSV and JSON lines; Parquet's schema)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if suffix in (".csv", ".tsv", ".jsonl"):
            with open(path, encoding=encoding or "utf-8-sig", errors="replace") as f:  # -sig: a BOM is no header
                first = next((line for line in f if line.strip()), "")
            if suffix == ".jsonl":
                row = json.loads(first)
                return list(row) if isinstance(row, dict) else []
            return next(csv.reader([first], delimiter="\t" if suffix == ".tsv" else ","), [])
        return list(_read_frame(path, encoding).columns)
    except (OSError, ValueError, DataError):
        return []  # unreadable here: reading it for real says why


def _read_frame(path: Path, encoding=None):
    import pandas as pd

    name = path.name
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001 - pyarrow's many error types: one line either way
            raise DataError(f"cannot read {name} as Parquet: {first_line(e)}") from None
    text, used = read_text(path, encoding)
    if suffix in (".csv", ".tsv"):
        kind = "TSV" if suffix == ".tsv" else "CSV"
        try:
            with warnings.catch_warnings():
                # Rows longer than the header: pandas would silently shift every column (or,
                # with index_col=False, drop fields with a warning); make it an error.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(
                    io.StringIO(text),
                    sep="\t" if suffix == ".tsv" else ",",
                    dtype=str,
                    keep_default_na=False,  # a review that says "NA" is text, not a missing value
                    index_col=False,
                    # TSV files (GLUE, SST) carry bare quote characters inside text; honouring
                    # quotes there would swallow whole lines.
                    quoting=csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL,
                )
        except pd.errors.EmptyDataError:
            raise DataError(f"{name} is empty; add a header line and at least one example per class.")
        except pd.errors.ParserWarning:
            raise DataError(f"cannot parse {name} as {kind}: some rows have more fields than the header. Quote fields that contain the delimiter.")
        except (pd.errors.ParserError, ValueError) as e:
            raise DataError(f"cannot parse {name} as {kind}: {first_line(e)}. Check the delimiter and quoting (fields with commas need quotes).")
    else:
        df = pd.DataFrame(_records_from_json(text, name, lines=suffix == ".jsonl"))
    df.attrs["encoding"] = used
    return df


def read_table(path: Path, *, text_column=None, label_column=None, encoding=None, task=None) -> Loaded:
    """A table -> one unsplit set: prompt/answer pairs for generative fine-tuning (`task` sft, or
    columns that look like it: ftlab.data.instructions), else one text column and one label
    column for classification."""
    name = path.name
    df = _read_frame(path, encoding)
    used = df.attrs.get("encoding", "utf-8")
    if len(df) == 0:
        raise DataError(f"{name} has no rows; add at least one example per class.")
    if (not get_task(task).labelled) if task else looks_instructional(df.columns):
        prompts, answers, skipped = to_pairs(df.to_dict("records"), name, prompt_column=text_column,
                                             answer_column=label_column)
        return Loaded(task or "sft", [], {"all": (prompts, answers)}, _source(path, used, encoding),
                      {k: n for k, n in skipped.items() if n})

    tcol = pick_column(list(df.columns), text_column, TEXT_DEFAULTS, "text", name)
    lcol = pick_column(list(df.columns), label_column, LABEL_DEFAULTS, "label", name)
    if tcol == lcol:
        raise DataError(f"text and label column are both {tcol!r} in {name}; set {field('text_column')} and {field('label_column')}.")

    texts, raw_labels = [], []
    skipped = {"no_text": 0, "no_label": 0}
    for t, lab in zip(df[tcol].tolist(), _same_kind_labels(df[lcol].tolist(), lcol, name)):
        t = t.strip() if isinstance(t, str) else ""
        lab = label_str(lab)
        if t and lab:  # rows without text or without a label cannot be trained on
            texts.append(t)
            raw_labels.append(lab)
        else:
            skipped["no_text" if not t else "no_label"] += 1
    if not texts:
        raise DataError(f"no rows of {name} have both a text in {tcol!r} and a label in {lcol!r}; check {field('text_column')} and {field('label_column')}.")
    names = sort_label_names(raw_labels)
    if len(names) < 2:
        raise DataError(f"{name} has a single class ({names[0]!r} in column {lcol!r}); classification needs at least two. Check {field('label_column')}.")
    ids = {n: i for i, n in enumerate(names)}
    source = _source(path, used, encoding)
    return Loaded("classification", names, {"all": (texts, [ids[x] for x in raw_labels])}, source,
                  {k: n for k, n in skipped.items() if n})


def _same_kind_labels(values: list, column: str, name: str) -> list:
    """Label values of one kind, so one class is one class: where numbers and strings mix (JSON
    `1` beside `"1"` or `"1.0"`), a string holding a number is read as that number; true/false
    mixed with other values is refused (is `true` the class `1`?)."""
    bools = sum(isinstance(v, bool) for v in values)
    present = [v for v in values if v is not None and v != "" and not (isinstance(v, float) and v != v)]
    if bools and bools < len(present):
        others = sorted({repr(v) for v in present if not isinstance(v, bool)})[:3]
        raise DataError(f"the label column {column!r} of {name} mixes true/false with other values "
                        f"({', '.join(others)}); write every label the same way, e.g. all as 0/1 or all as text.")
    if not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present) or \
            not any(isinstance(v, str) for v in present):
        return values

    def as_number(v):
        if isinstance(v, str):
            try:
                number = float(v)
            except ValueError:
                return v
            return number if number == number and abs(number) != float("inf") else v
        return v

    return [as_number(v) for v in values]


_TAG = re.compile(r"O|[BI]-\S+")


def to_iob2(tags: list[str]) -> list[str]:
    """IOB1 -> IOB2: an I- tag that starts an entity (after O or another type) becomes B-.

    A no-op on IOB2, so every file goes through it and users need not say which scheme they have.
    """
    out = []
    prev_type = None
    for tag in tags:
        etype = None if tag == "O" else tag[2:]
        if tag.startswith("I-") and etype != prev_type:
            tag = "B-" + etype
        out.append(tag)
        prev_type = etype
    return out


def read_conll(path: Path, *, encoding=None) -> Loaded:
    """CoNLL: a token per line (first column), its tag in the last column, blank lines between sentences."""
    name = path.name
    text, used = read_text(path, encoding)
    sentences = []
    tokens, tags = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("-DOCSTART-"):
            if tokens:
                sentences.append((tokens, to_iob2(tags)))
            tokens, tags = [], []
            continue
        cols = stripped.split()
        if len(cols) < 2:
            raise DataError(
                f"line {lineno} of {name} has one column: {line[:80]!r}; CoNLL needs 'TOKEN ... TAG' "
                "on each line and a blank line between sentences."
            )
        if not _TAG.fullmatch(cols[-1]):
            raise DataError(
                f"line {lineno} of {name}: tag {cols[-1]!r} is not O, B-TYPE or I-TYPE: {line[:80]!r}; "
                "the tag must be the last column, in BIO (IOB2) or IOB1."
            )
        tokens.append(cols[0])
        tags.append(cols[-1])
    if tokens:
        sentences.append((tokens, to_iob2(tags)))
    if not sentences:
        raise DataError(f"{name} has no sentences; write one 'TOKEN TAG' per line with blank lines between sentences.")
    names = ["O"] + sorted({t for _, ts in sentences for t in ts} - {"O"})
    if len(names) < 2:
        raise DataError(f"{name} has no entities (every tag is O); NER needs tagged entities such as B-PER.")
    ids = {n: i for i, n in enumerate(names)}
    texts = [toks for toks, _ in sentences]
    labels = [[ids[t] for t in ts] for _, ts in sentences]
    source = _source(path, used, encoding)
    return Loaded("ner", names, {"all": (texts, labels)}, source)
