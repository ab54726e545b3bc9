"""ftlab_seqeval: entity-level and token-level scores for BIO tagging, with both report tables.

A local `evaluate` module: load it by folder path, no Hub needed.

    metric = evaluate.load("/path/to/ftlab_seqeval", keep_in_memory=True)
    metric.compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])

Entities are scored by seqeval in its default mode (conlleval-style: an I- tag without a B- still
starts an entity), the numbers the classic BERT NER scripts print.

evaluate finds the libraries this script needs by matching its import lines with a regex: keep
one import per line (`import a, b` would be read as a library called "a,").
"""

import collections
import datasets
import evaluate
import numpy as np
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.metrics.v1 import _precision_recall_fscore_support
from seqeval.reporters import StringReporter
from sklearn.metrics import classification_report

_DESCRIPTION = "Entity precision/recall/F1 (seqeval, default mode), token accuracy, per-type scores and report tables."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of list of str, predicted BIO tags per sentence.
    references: list of list of str, true BIO tags per sentence (same lengths).
Returns:
    entity_precision, entity_recall, entity_f1: float, micro-averaged over entities.
    token_accuracy: float, share of all tokens (O included) whose tag is right.
    per_class: list of {"label", "precision", "recall", "f1", "support"}, entity types sorted.
    report: str, the table seqeval.metrics.classification_report prints (entity level).
    token_report: str, sklearn's classification_report table over the flattened tags.
"""

_DIGITS = 4


class FtlabSeqeval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references):
        if len(predictions) != len(references) or any(len(p) != len(r) for p, r in zip(predictions, references)):
            raise ValueError("ftlab_seqeval: predictions and references differ in sentence count or length")
        flat_pred = [tag for sentence in predictions for tag in sentence]
        flat_ref = [tag for sentence in references for tag in sentence]
        if not flat_ref:
            raise ValueError("ftlab_seqeval: no tokens to score")
        return {**_entity_scores(references, predictions), **_token_scores(flat_ref, flat_pred)}


def _token_scores(flat_ref, flat_pred):
    # Encode tags as ints with a dict: sklearn (and np.unique) on ~100k Python strings spend most of
    # their time sorting and mapping objects.
    tags = sorted(set(flat_ref) | set(flat_pred))
    code = {tag: i for i, tag in enumerate(tags)}
    ref = np.fromiter((code[t] for t in flat_ref), dtype=np.int64, count=len(flat_ref))
    pred = np.fromiter((code[t] for t in flat_pred), dtype=np.int64, count=len(flat_pred))
    report = classification_report(
        ref, pred, labels=np.arange(len(tags)), target_names=tags, digits=_DIGITS, zero_division=0
    )
    return {"token_accuracy": float((ref == pred).mean()), "token_report": report}


def _entity_scores(references, predictions):
    """seqeval.metrics.classification_report (default mode), extracting the entities once.

    seqeval's report runs get_entities over both sides five times (target names, then per type,
    micro, macro, weighted): ~6 s on 4,000 sentences of 25 tags, against ~0.7 s here. The averaging
    and table formatting below are seqeval's own functions (seqeval is pinned; a test checks the
    text against seqeval's report), fed the counts made once.
    """
    found = {"true": collections.defaultdict(set), "pred": collections.defaultdict(set)}
    for side, tags in (("true", references), ("pred", predictions)):
        for type_name, start, end in get_entities(tags):
            found[side][type_name].add((start, end))
    names = sorted(set(found["true"]) | set(found["pred"]))
    if not names:
        # Nothing to score, and seqeval's own report crashes on an empty table (max() of no names).
        return {"entity_precision": 0.0, "entity_recall": 0.0, "entity_f1": 0.0, "per_class": [],
                "report": "no entities in references or predictions\n"}

    true, pred = found["true"], found["pred"]
    counts = (
        np.array([len(pred[n]) for n in names]),
        np.array([len(true[n] & pred[n]) for n in names]),
        np.array([len(true[n]) for n in names]),
    )

    def scores(average):
        return _precision_recall_fscore_support(
            references, predictions, average=average, zero_division=0,
            extract_tp_actual_correct=lambda *args: counts,
        )

    precision, recall, f1, support = scores(None)
    per_class = [
        {"label": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
        for name, p, r, f, n in zip(names, precision, recall, f1, support)
    ]
    # The same rows, widths and digits as seqeval's classification_report.
    reporter = StringReporter(width=max(max(map(len, names)), len("weighted avg"), _DIGITS), digits=_DIGITS)
    for row in per_class:
        reporter.write(row["label"], row["precision"], row["recall"], row["f1"], row["support"])
    reporter.write_blank()
    for average in ("micro", "macro", "weighted"):
        reporter.write(f"{average} avg", *scores(average))
    reporter.write_blank()

    micro_p, micro_r, micro_f1, _ = scores("micro")
    return {
        "entity_precision": float(micro_p),
        "entity_recall": float(micro_r),
        "entity_f1": float(micro_f1),
        "per_class": per_class,
        "report": reporter.report(),
    }
