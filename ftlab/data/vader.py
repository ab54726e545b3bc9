"""Hutto & Gilbert's (2014) sentiment ground truth, fetched once from vadersentiment's source archive.

The four human-rated corpora behind the VADER paper (tweets, movie-review sentences, Amazon
product-review snippets, NYT editorial snippets; MIT) ship only in the vadersentiment 3.3.2
source archive on PyPI, as additional_resources/hutto_ICWSM_2014.tar.gz: the wheel lacks them,
so no installed package holds them. The first load runs `pip download` into
FTLAB_CACHE/data/vadersentiment-3.3.2/, keeps only the four *_GroundTruth.txt files (2.8 MB)
and deletes the 2.4 MB archive; every later load, in any process, reads those files. Nothing
is fetched at import or when datasets are listed.

With no network: FTLAB_VADER_SDIST=/path/to/vaderSentiment-3.3.2.tar.gz (or that archive
placed in the cache folder above, which is where the `pip download` command in the error
message puts it) is used instead of downloading.

May import: ftlab.cache, ftlab.errors and the standard library.
"""

from __future__ import annotations

import html
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from ftlab import cache
from ftlab.errors import DataError

VERSION = "3.3.2"
REQUIREMENT = f"vadersentiment=={VERSION}"
SDIST_NAME = f"vaderSentiment-{VERSION}.tar.gz"
SDIST_ENV = "FTLAB_VADER_SDIST"
INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
SUFFIX = "_GroundTruth.txt"
# Domain -> file stem inside hutto_ICWSM_2014/.
FILES = {
    "tweets": "tweets",
    "movies": "movieReviewSnippets",
    "products": "amazonReviewSnippets",
    "news": "nytEditorialSnippets",
}
LABELS = ["negative", "neutral", "positive"]

# A rating is the mean of >= 20 raters on the integer scale -4 (extremely negative) .. 4
# (extremely positive), 0 meaning neutral. |mean| <= 0.5 means the raters, on average, lean less
# than half a step off neutral: no clear polarity. Class counts per threshold, measured on the
# real files after de-duplication (negative / neutral / positive):
#            +-0 (sign only)    +-0.25            +-0.5 (chosen)     +-1.0
#   tweets   1299/   4/2897     1174/ 430/2596    1062/ 838/2300     815/1601/1784
#   movies   5325/  37/5241     5224/ 245/5134    5060/ 562/4981     4483/1582/4538
#   products 1480/  97/2120     1309/ 530/1858    1216/ 763/1718     895/1322/1480
#   news     2702/ 236/2180     2138/1460/1520    1662/2371/1085     895/3720/ 503
# The sign alone leaves neutral nearly empty (4 tweets, 37 movie sentences); +-1 makes it 72% of
# the news set. +-0.5 keeps every class at 5% or more in every domain. The movie sentences come
# from a polarity corpus (every review was positive or negative), so neutral stays small there:
# 562 of 10,603 (5.3%).
NEUTRAL_BAND = 0.5


def sentiment_label(rating: float) -> int:
    """Mean rating -> index in LABELS: below -0.5 negative, above 0.5 positive, else neutral."""
    if rating < -NEUTRAL_BAND:
        return 0
    return 2 if rating > NEUTRAL_BAND else 1


def _clean(text: str) -> str:
    """The text the raters saw: HTML entities decoded (the tweets hold &amp; &lt; &gt; as the
    Twitter API sends them; ten news snippets are escaped twice, &amp;amp;) and runs of
    whitespace made one space (625 movie sentences carry tokenizer spacing or CR/LF ends)."""
    for _ in range(2):
        text = html.unescape(text)
    return " ".join(text.split())


def parse_ground_truth(text: str, name: str = "ground truth") -> list[tuple[str, float]]:
    """`id<TAB>mean rating<TAB>text` lines -> [(text, rating)] in file order, one per distinct text.

    A text that repeats (2 movie sentences, 11 product snippets, 72 news snippets; none among the
    tweets) was rated separately each time, and the ratings differ: keep it once, at its first
    position, with the mean of its ratings, so no text lands in both train and test. The tweets'
    60 pairs that differ only in CAPITALS are the paper's controlled variants (caps raise the
    intensity, e.g. 1.44 vs 1.87) and stay as distinct examples.
    """
    ratings: dict[str, list[float]] = {}  # insertion order = file order
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        try:
            rating = float(parts[1])
        except (IndexError, ValueError):
            raise DataError(f"{name} line {n} is not `id<TAB>rating<TAB>text`: {line[:80]!r}; "
                            f"delete the cached copy to fetch it again")
        cleaned = _clean(parts[2]) if len(parts) == 3 else ""
        if cleaned:
            ratings.setdefault(cleaned, []).append(rating)
    return [(t, sum(r) / len(r)) for t, r in ratings.items()]


def folder() -> Path:
    """Where the extracted files live (a per-process temporary folder when FTLAB_CACHE=off)."""
    return cache.folder("data") / f"vadersentiment-{VERSION}"


def _pip_command(dest: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", REQUIREMENT,
           "-d", str(dest), "--retries", "1", "--timeout", "30", "--disable-pip-version-check", "--quiet"]
    # pip prepares the sdist's metadata before it saves it. In an isolated build environment it
    # first downloads setuptools (16 s here, and a second thing that must be reachable); with the
    # setuptools already installed it takes 1 s.
    if importlib.util.find_spec("setuptools") is not None:
        cmd.append("--no-build-isolation")
    return cmd


def _offline_fix(target: Path) -> str:
    return (f"on a machine with network run `python -m pip download --no-deps --no-binary :all: {REQUIREMENT} "
            f"-d {target}` (or set {SDIST_ENV} to a copy of {SDIST_NAME})")


def _pip_reason(output: str) -> str:
    """pip's first ERROR line, led by "cannot reach the package index" when its warnings show
    the connection failing (offline, pip then only says "Could not find a version")."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    error = next((ln for ln in lines if ln.startswith("ERROR")), lines[-1] if lines else "no archive saved")
    unreachable = any(w in ln for ln in lines for w in ("Retrying", "NewConnectionError", "Failed to establish",
                                                        "Temporary failure in name resolution", "ProxyError"))
    return ("pip cannot reach the package index: " if unreachable else "pip: ") + error[:200]


def download(dest: Path) -> Path:
    """pip-download the source archive into `dest`; a DataError naming the fix when pip fails."""
    print(f"ftlab: fetching vadersentiment {VERSION} source archive from PyPI (one time) ...",
          file=sys.stderr, flush=True)
    t0 = time.monotonic()
    try:
        done = subprocess.run(_pip_command(dest), capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise DataError(f"downloading {REQUIREMENT} took over 10 minutes; {_offline_fix(folder())}")
    archives = sorted(dest.glob("*.tar.gz"))
    if done.returncode != 0 or not archives:
        raise DataError(f"could not download the {REQUIREMENT} source archive that holds the sentiment-* data "
                        f"({_pip_reason(done.stderr + done.stdout)}); {_offline_fix(folder())}")
    print(f"ftlab: vadersentiment archive fetched in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    return archives[0]


def extract(sdist: Path, dest: Path) -> list[str]:
    """Copy the *_GroundTruth.txt files out of the archive's inner hutto_ICWSM_2014.tar.gz into
    `dest` (flat, by base name: no path from the archive is ever written). Returns their names."""
    written = []
    try:
        with tarfile.open(sdist, "r:gz") as outer:
            inner_member = next((m for m in outer.getmembers() if m.isfile() and m.name.endswith(INNER_ARCHIVE)), None)
            if inner_member is None:
                raise DataError(f"{sdist} has no {INNER_ARCHIVE}; give the {SDIST_NAME} source archive "
                                f"(the wheel lacks the data)")
            with tarfile.open(fileobj=outer.extractfile(inner_member), mode="r:gz") as inner:
                for member in inner.getmembers():
                    base = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and base.endswith(SUFFIX) and not base.startswith("."):
                        (dest / base).write_bytes(inner.extractfile(member).read())
                        written.append(base)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"cannot read {sdist} as the {SDIST_NAME} source archive ({type(err).__name__}: "
                        f"{str(err)[:120]}); delete it and fetch it again")
    if not written:
        raise DataError(f"{sdist}: {INNER_ARCHIVE} holds no *{SUFFIX} files; give the {SDIST_NAME} source archive")
    return written


def ground_truth_dir(sdist: str | os.PathLike | None = None) -> Path:
    """The folder holding the extracted *_GroundTruth.txt files, fetching them first if needed.

    The archive is, in order: `sdist`, $FTLAB_VADER_SDIST, one already in folder(), else a pip
    download. Extraction goes into a temporary sibling renamed into place, so two workers loading
    at once never see half a folder.
    """
    base = folder()
    target = base / "hutto_ICWSM_2014"
    if target.is_dir():
        return target
    given = sdist or os.environ.get(SDIST_ENV, "").strip() or None
    if given is not None and not Path(given).expanduser().is_file():
        raise DataError(f"{SDIST_ENV}={given} is not a file; point it at a copy of {SDIST_NAME}")
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=base))
    try:
        placed = base / SDIST_NAME
        archive = Path(given).expanduser() if given else placed if placed.is_file() else download(tmp)
        files = tmp / "hutto_ICWSM_2014"
        files.mkdir()
        names = extract(archive, files)
        try:
            files.rename(target)
        except OSError:  # another process finished first: its copy is as good as ours
            if not target.is_dir():
                raise
        print(f"ftlab: extracted {len(names)} ground-truth files into {target}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load(domain: str, sdist: str | os.PathLike | None = None) -> list[tuple[str, float]]:
    """[(text, mean rating)] of one domain ("tweets", "movies", "products", "news")."""
    path = ground_truth_dir(sdist) / (FILES[domain] + SUFFIX)
    if not path.is_file():
        raise DataError(f"{path.name} is missing from {path.parent}; delete that folder to fetch "
                        f"{SDIST_NAME} again")
    return parse_ground_truth(path.read_text(encoding="utf-8"), path.name)
