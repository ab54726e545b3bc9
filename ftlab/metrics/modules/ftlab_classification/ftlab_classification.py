"""ftlab_classification: accuracy, macro-F1, per-class P/R/F1 and the confusion matrix, in one pass.

A local `evaluate` module: load it by folder path, no Hub needed.

    metric = evaluate.load("/path/to/ftlab_classification", keep_in_memory=True)
    metric.compute(predictions=[0, 2, 1], references=[0, 1, 1], label_names=["neg", "neu", "pos"])

evaluate finds the libraries this script needs by matching its import lines with a regex: keep
one import per line (`import a, b` would be read as a library called "a,").
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import confusion_matrix
from sklearn.metrics import precision_recall_fscore_support

_DESCRIPTION = "Accuracy, macro-F1, per-class precision/recall/F1/support and confusion matrix for single-label classification."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of int, predicted label ids.
    references: list of int, true label ids.
    label_names: list of str, optional; names of ids 0..len-1. Every name gets a per-class row and a
        confusion row/column, even when it never occurs. Defaults to "0".."max id".
Returns:
    accuracy: float.
    macro_f1: float, unweighted mean F1 over the labels that occur in references or predictions
        (sklearn's default for average="macro", the same number evaluate's "f1" metric gives).
    per_class: list of {"label", "precision", "recall", "f1", "support"} in label_names order; 0 where undefined.
    confusion: list of lists of int; rows are true labels, columns predicted labels.
"""


class FtlabClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            # numpy format hands _compute int arrays instead of Python lists: no per-item conversion.
            format="numpy",
        )

    def _compute(self, predictions, references, label_names=None):
        predictions = np.asarray(predictions, dtype=np.int64)
        references = np.asarray(references, dtype=np.int64)
        if predictions.size == 0:
            raise ValueError("ftlab_classification: no predictions to score")
        if label_names is None:
            label_names = [str(i) for i in range(int(max(predictions.max(), references.max())) + 1)]
        n = len(label_names)
        for name, ids in (("predictions", predictions), ("references", references)):
            if ids.min() < 0 or ids.max() >= n:
                # sklearn would silently drop ids outside `labels` from the confusion matrix.
                raise ValueError(f"ftlab_classification: {name} hold ids outside 0..{n - 1} ({n} label names)")

        labels = np.arange(n)
        precision, recall, f1, support = precision_recall_fscore_support(
            references, predictions, labels=labels, average=None, zero_division=0
        )
        present = np.union1d(references, predictions)
        return {
            "accuracy": float((predictions == references).mean()),
            "macro_f1": float(f1[present].mean()),
            "per_class": [
                {
                    "label": str(label_names[i]),
                    "precision": float(precision[i]),
                    "recall": float(recall[i]),
                    "f1": float(f1[i]),
                    "support": int(support[i]),
                }
                for i in range(n)
            ],
            "confusion": confusion_matrix(references, predictions, labels=labels).tolist(),
        }
