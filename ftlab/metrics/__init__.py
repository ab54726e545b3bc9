"""Scores and costs of a run.

Task scores go through ftlab's own local `evaluate` modules (ftlab/metrics/modules/), the same
code path as a user's evaluate metric, and load with no Hub. Importing this package is cheap:
evaluate is imported on the first score, torch on the first PeakMemory.

May import: evaluate, numpy, ftlab.models (what counts as the task head); torch lazily. Never
the engine, the store or anything above.
"""

from collections import Counter

from ftlab.metrics._modules import CLASSIFICATION, SEQEVAL, compute, load_module, module_path
from ftlab.metrics._resources import PeakMemory, count_parameters, free_memory_mb, resident_mb

__all__ = [
    "PeakMemory",
    "resident_mb",
    "free_memory_mb",
    "classification_metrics",
    "count_parameters",
    "load_module",
    "majority_baseline",
    "module_path",
    "ner_metrics",
]


def classification_metrics(predictions: list[int], references: list[int], label_names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    per_class lists every label in label_names order, 0.0 where a score is undefined (a label
    never predicted or never true). macro_f1 averages F1 over the labels that occur in references
    or predictions, as sklearn and evaluate's "f1" do: a class absent from the test set is not
    counted as a zero. confusion[i][j] = examples of true label i predicted as j.
    """
    return compute(CLASSIFICATION, predictions=predictions, references=references, label_names=list(label_names))


def ner_metrics(predictions: list[list[str]], references: list[list[str]]) -> dict:
    """Entity-level scores of BIO tag sequences (seqeval, default conlleval-style mode), token accuracy
    over all tokens, per-entity-type scores, and the entity and token report tables as text."""
    return compute(SEQEVAL, predictions=predictions, references=references)


def majority_baseline(references: list[int]) -> float:
    """Accuracy of always predicting the most common reference label: the score to beat."""
    if not references:
        raise ValueError("majority_baseline: no references")
    return Counter(references).most_common(1)[0][1] / len(references)
