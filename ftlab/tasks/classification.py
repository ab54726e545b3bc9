"""Text classification: one label per text; accuracy first, then macro-F1."""

from __future__ import annotations

from ftlab.tasks import Encoded, Task, register_task


def encode(split, tokenizer, max_length: int) -> Encoded:
    enc = tokenizer(list(split.texts), truncation=True, max_length=max_length)
    return Encoded(enc["input_ids"], list(split.labels))


def batch_labels(labels: list, width: int):
    import torch

    return torch.tensor(labels, dtype=torch.long)


def decode(guess, labels) -> list:
    return guess.tolist()


def score(predictions: list, labels: list, label_names: list) -> dict:
    from ftlab import metrics

    return metrics.classification_metrics(predictions, list(labels), label_names)


def predict(model, tokenizer, texts: list[str], max_length: int, label_names: list) -> list[dict]:
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    probs = model(**enc).logits.float().softmax(-1)
    return [{"label": label_names[int(p.argmax())],
             "probs": {n: round(float(v), 4) for n, v in zip(label_names, p)}} for p in probs]


register_task(Task(
    name="classification",
    description="text classification: one label per text (sentiment, topics)",
    per_token=False,
    primary="accuracy",
    primary_title="accuracy",
    metrics=("accuracy", "macro_f1"),
    auto_class="AutoModelForSequenceClassification",
    peft_task_type="SEQ_CLS",
    pipeline="text-classification",
    card_metrics=(("accuracy", "accuracy", "Test accuracy"), ("f1", "macro_f1", "Test macro-F1")),
    encode=encode,
    batch_labels=batch_labels,
    decode=decode,
    score=score,
    predict=predict,
))
