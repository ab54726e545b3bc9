"""Pieces shared by the dataset readers: the raw-load result, label naming, text decoding."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from dataclasses import dataclass
from typing import NamedTuple

from ftlab.errors import DataError, field

@dataclass
class Split:
    texts: list  # classification: list[str]; ner: list[list[str]] (tokens per sentence); sft: conversations
    labels: list  # classification: list[int]; ner: list[list[int]] (tag id per token); sft: answer texts

    def __len__(self) -> int:
        return len(self.texts)


class Loaded(NamedTuple):
    """What a reader hands back before splitting, capping and fingerprinting.

    `splits` holds (texts, labels) pairs; the key "all" means the source has no splits of its
    own and load_dataset makes 80/10/10 ones.
    """

    task: str
    label_names: list
    splits: dict
    source: str
    skipped: dict = {}  # rows left out, by reason ("no_text", "no_label"): the card says how many
    generation: dict = {}  # generative sets: how answers are read (rule, max_new_tokens, stop; ftlab.tasks.answers)


def label_str(value) -> str:
    """A label value as the string users see: 1, 1.0 and "1" all become "1"; None/NaN become ""."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple, dict)):
        raise DataError(
            f"label value {value!r} is a list/object; ftlab supports one label per example "
            f"(multi-label is not supported). Set {field('label_column')} to a single-valued column."
        )
    return str(value).strip()


def sort_label_names(names) -> list:
    """Sorted distinct names; numeric labels sort as numbers so "2" < "10" and id 0 stays "0"."""
    names = set(names)
    if all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def _looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters: no text encoding makes a table of it (a binary file
    renamed .csv would otherwise "decode" as latin-1 into garbage)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return False  # UTF-16/32 text is full of NUL bytes
    head = data[:65536]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return b"\x00" in head or controls > 0.05 * len(head)


def _detect(data: bytes, name: str) -> tuple[str, str]:
    import charset_normalizer

    results = charset_normalizer.from_bytes(data)
    best = results.best()
    if best is None:
        raise DataError(
            f"cannot detect the text encoding of {name} (it is not utf-8); "
            f"set {field('encoding')} to the file's encoding, e.g. latin-1 or gbk."
        )
    # charset-normalizer is unsure on small single-byte files: a latin-1 French review scores
    # iso8859_10 "façade"->"faįade" at chaos 0.0 and cp1252 (right) at 0.09, and ties cp1250
    # "crčme" with cp1252 "crème" elsewhere. Spreadsheets write cp1252/latin-1 far more often
    # than those, so prefer them when they are nearly as clean as the best guess (the price:
    # Turkish cp1254 ties with cp1252 and loses). The source string names the encoding used.
    near = {r.encoding for r in results if r.chaos <= best.chaos + 0.1}
    encoding = next((e for e in ("cp1252", "latin_1") if e in near), best.encoding)
    return data.decode(encoding), encoding


def read_text(path: Path, encoding: str | None) -> tuple[str, str]:
    """Decode a file: the given encoding strictly, else utf-8, else a detected one.

    Returns (text, encoding used). Bytes that are invalid in the given encoding are an error
    rather than silently replaced, so a wrong --encoding never turns into wrong training text.
    """
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path.name} is empty; add a header line and at least one example per class.")
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DataError(f"unknown encoding {encoding!r}; pass a Python codec name such as utf-8, latin-1 or gbk.")
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path.name} is not valid {encoding} (bad byte 0x{data[e.start]:02x} at offset {e.start}); "
                f"set {field('encoding')} to the file's real encoding (e.g. latin-1, cp1252, gbk)."
            )
    if _looks_binary(data):
        raise DataError(f"{path.name} is not a text file (it holds binary data); "
                        "give a CSV, TSV, JSON lines or CoNLL text file.")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return _detect(data, path.name)


def pick_column(columns, given, defaults, kind, name):
    """The `kind` ("text"/"label") column of a table: the one given, else the first default
    present (case-insensitive), else a one-line error listing what the table has."""
    flag = field(f"{kind}_column")
    available = ", ".join(map(str, columns)) or "(none)"
    if given is not None:
        if given not in columns:
            raise DataError(f"column {given!r} not found in {name}; available columns: {available}. Set {flag}.")
        return given
    by_lower = {str(c).lower(): c for c in columns}
    for d in defaults:
        if d in by_lower:
            return by_lower[d]
    raise DataError(
        f"no {kind} column in {name} (looked for {', '.join(defaults)}); available columns: {available}. Set {flag}."
    )


def first_line(err: Exception, limit: int = 300) -> str:
    """An exception's first line, for a one-line error that wraps a library's message."""
    lines = str(err).strip().splitlines()
    return lines[0][:limit] if lines else type(err).__name__
