"""Synthetic text-classification data a tiny random model learns in a few steps."""

import random

WORDS = "the a movie film plot actor scene story music ending time people day night city".split()
KEYWORDS = {"good": "wonderful", "bad": "terrible", "meh": "okay"}


def write_keyword_csv(path, keywords=KEYWORDS, n=400, seed=0) -> str:
    """n rows whose label (good/bad/meh) is decided by one keyword among filler words; other
    keywords for the same labels make a second task (continual fine-tuning)."""
    rng = random.Random(seed)
    rows = ["text,label"]
    for i in range(n):
        label = rng.choice(["good", "bad", "meh"])
        words = rng.sample(WORDS, 6)
        words.insert(rng.randrange(7), keywords[label])
        rows.append(f"{' '.join(words)} {i},{label}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def qa_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(prompt, answer): the answer is "yes" when the prompt holds the word "good", else "no"."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.sample(WORDS, 6)
        good = i % 2 == 0
        if good:
            words[rng.randrange(6)] = "good"
        rows.append((" ".join(words), "yes" if good else "no"))
    return rows
