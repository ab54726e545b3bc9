"""Shared fixtures: small synthetic datasets a tiny random model can learn in a few steps."""

import os
import random
import shutil
import signal
import tempfile

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist's workers (-n 2) share the cores: one thread each for the runs they train in
    # their own process (before torch is imported), not two threads each on two cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tokenized splits are cached (ftlab/train/token_cache.py): each test process uses, and fills, its
# own cache. The models converted from their packages (SmolLM2's GGUF takes ~30 s) are shared by
# the processes of one run (pytest-xdist's workers inherit the folder the first process made);
# each is written under a temporary name and renamed into place (ftlab/models/packaged.py).
os.environ["FTLAB_CACHE"] = tempfile.mkdtemp(prefix="ftlab-test-cache-")
_MADE_MODELS = "FTLAB_TEST_MODELS" not in os.environ
if _MADE_MODELS:
    os.environ["FTLAB_TEST_MODELS"] = tempfile.mkdtemp(prefix="ftlab-test-models-")
os.symlink(os.environ["FTLAB_TEST_MODELS"], os.path.join(os.environ["FTLAB_CACHE"], "models"))

from keyword_data import WORDS, qa_rows, write_keyword_csv  # noqa: E402 - the environment above comes first


def pytest_configure(config):
    """Every run ends with its 20 slowest tests: the suite must stay under 15 minutes on CI's 2 cores."""
    if config.option.durations is None:
        config.option.durations = 20


def pytest_unconfigure(config):
    shutil.rmtree(os.environ["FTLAB_CACHE"], ignore_errors=True)
    if _MADE_MODELS:
        shutil.rmtree(os.environ["FTLAB_TEST_MODELS"], ignore_errors=True)


@pytest.fixture(scope="session")
def keyword_csv(tmp_path_factory):
    """Sentiment decided by one keyword among filler words: learnable by any method."""
    return write_keyword_csv(tmp_path_factory.mktemp("data") / "keywords.csv")


@pytest.fixture(scope="session")
def qa_jsonl(tmp_path_factory):
    """Generative: prompt/completion lines whose answer is "yes" when the prompt says "good", else "no"."""
    import json

    path = tmp_path_factory.mktemp("sft") / "qa.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "completion": a}) + "\n" for p, a in qa_rows(240)))
    return path


@pytest.fixture(scope="session")
def names_conll(tmp_path_factory):
    """NER: capitalised names from a small list are PER, cities LOC; the rest O."""
    rng = random.Random(0)
    people = ["alice smith", "bob jones", "carol white", "dave brown"]
    places = ["new york", "san diego", "le havre", "des moines"]
    path = tmp_path_factory.mktemp("data") / "names.conll"
    lines = []
    for _ in range(300):
        words = [(w, "O") for w in rng.sample(WORDS, 5)]
        words.insert(rng.randrange(6), (rng.choice(people), "PER"))
        words.insert(rng.randrange(7), (rng.choice(places), "LOC"))
        for chunk, kind in words:
            for i, w in enumerate(chunk.split()):
                lines.append(f"{w} {kind if kind == 'O' else ('B-' if i == 0 else 'I-') + kind}")
        lines.append("")
    path.write_text("\n".join(lines))
    return str(path)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def interruptible():
    """preexec_fn for a child the test will Ctrl-C: a shell that starts a command in the
    background (`cmd &`, nohup) makes it ignore SIGINT, and the child would inherit that."""
    return _default_sigint


@pytest.fixture
def shared(tmp_path):
    """A demo dashboard's Lab with sign-in, holding ann's trained run (its job is hers) and a run
    nobody owns (a baseline, or one the operator trained)."""
    from ftlab.config import RunConfig
    from ftlab.policy import Policy
    from ftlab.service import Lab, train_now

    lab = Lab(str(tmp_path / "lab.duckdb"), policy=Policy.for_mode("demo", require_login=True))
    runs = {}
    for who in ("ann", None):
        config = RunConfig(model="tiny", dataset="tweets-sentiment", method="head", max_train=64, max_eval=32,
                           max_steps=2, epochs=1, seed=0 if who else 1)
        run_id, summary, error = train_now(config, lab.store, db_path=lab.db_path)
        assert error is None, error
        if who:
            lab.store.add_jobs([{"id": "jann", "config": config.to_dict(), "owner": who}])
            log = tmp_path / "jann.log"
            log.write_text("ann's worker log\n")
            lab.store.update_job("jann", run_id=run_id, status="succeeded", log_path=str(log), last_log="ann's tail")
        runs[who] = run_id
    yield lab, runs["ann"], runs[None]
    lab.close()
