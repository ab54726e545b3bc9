"""Token classification (NER): one BIO tag per word, scored on its first sub-token; entity F1
first (seqeval), then token accuracy, entity precision and recall."""

from __future__ import annotations

from ftlab.tasks import IGNORE, Encoded, Task, register_task, token_labels

# A fresh token-classification head learns the rare entity tags far too slowly at the rates that
# suit adapters or full fine-tuning: one epoch of wnut16-ner on MiniLM at LoRA's 5e-3 left entity
# F1 at 0.000, where the head alone at 5e-2 reached 0.287 (2026-11-30). NER runs give the head
# its own rate unless head_lr says otherwise.
HEAD_LR = 5e-2


def encode(split, tokenizer, max_length: int) -> Encoded:
    """Each word's tag goes on its first sub-token; the other sub-tokens and specials are IGNORE."""
    from ftlab.data.words import tokenize_words

    input_ids, word_ids = tokenize_words(tokenizer, split.texts, max_length)
    labels = []
    for words, tags in zip(word_ids, split.labels):
        row, prev = [], None
        for w in words:
            row.append(IGNORE if w is None or w == prev else tags[w])
            prev = w
        labels.append(row)
    return Encoded(input_ids, labels)


def decode(guess, labels) -> list:
    return [guess[r][labels[r] != IGNORE].tolist() for r in range(len(labels))]


def score(predictions: list, labels: list, label_names: list) -> dict:
    from ftlab import metrics

    gold = [[label_names[t] for t in row if t != IGNORE] for row in labels]
    guess = [[label_names[t] for t in row] for row in predictions]
    return metrics.ner_metrics(guess, gold)


def predict(model, tokenizer, texts: list[str], max_length: int, label_names: list) -> list[dict]:
    return [_tag(model, tokenizer, text, max_length, label_names) for text in texts]


def _tag(model, tokenizer, text: str, max_length: int, label_names: list) -> dict:
    import torch

    from ftlab.data.words import tokenize_words

    # Whitespace-separated languages tag words; text without spaces (Chinese) tags characters.
    words = text.split() if " " in text.strip() else [c for c in text if not c.isspace()]
    ids, word_ids = tokenize_words(tokenizer, [words], max_length)
    guess = model(input_ids=torch.tensor(ids), attention_mask=torch.ones(1, len(ids[0]), dtype=torch.long)
                  ).logits[0].argmax(-1).tolist()
    tags, seen = ["O"] * len(words), set()
    for pos, w in enumerate(word_ids[0]):
        if w is not None and w not in seen:
            seen.add(w)
            tags[w] = label_names[guess[pos]]
    return {"tokens": words, "tags": tags, "entities": entities(words, tags, " " if " " in text.strip() else "")}


def entities(words: list[str], tags: list[str], joiner: str) -> list[dict]:
    """BIO tags -> [{"type", "text", "start", "end"}] over word indices (end exclusive). The spans
    are seqeval's (the library that scores NER here), so what the playground shows is what counts."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [{"type": kind, "start": start, "end": last + 1, "text": joiner.join(words[start:last + 1])}
            for kind, start, last in get_entities(list(tags))]


def truncation(data, test_set: Encoded) -> dict:
    """How many test entities max_length cuts (the model never sees them whole; the test counts
    them as missed)."""
    from ftlab.data.card import entities_cut

    kept_words = [sum(t != IGNORE for t in row) for row in test_set.labels]  # each kept word's first sub-token
    cut, total = entities_cut(data.test.labels, data.label_names, kept_words)
    note = (f"max_length cuts {cut:,} of {total:,} test entities; the test counts them as missed") if cut else ""
    return {"test_entities_cut": cut, "test_entities": total, "note": note}


register_task(Task(
    name="ner",
    description="token classification: a BIO entity tag per word",
    per_token=True,
    primary="entity_f1",
    primary_title="entity F1",
    metrics=("entity_f1", "entity_precision", "entity_recall", "token_accuracy"),
    auto_class="AutoModelForTokenClassification",
    peft_task_type="TOKEN_CLS",
    pipeline="token-classification",
    card_metrics=(("f1", "entity_f1", "Test entity F1"), ("precision", "entity_precision", "Test entity precision"),
                  ("recall", "entity_recall", "Test entity recall")),
    encode=encode,
    batch_labels=token_labels,
    decode=decode,
    score=score,
    predict=predict,
    truncation=truncation,
    default_head_lr=HEAD_LR,
))
