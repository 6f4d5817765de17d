"""Classification metrics, in plain numpy so the runtime's `dmsd evaluate` and the trainers share them."""

from __future__ import annotations

import numpy as np


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The mean of per-class recalls over the classes present: plain accuracy rewards the majority class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [float((y_pred[y_true == c] == c).mean()) for c in np.unique(y_true)]
    return float(np.mean(recalls)) if recalls else 0.0


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """n, accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix
    (rows: truth)."""
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (np.asarray(y_true), np.asarray(y_pred)), 1)
    per_class = {}
    f1s = []
    for i, name in enumerate(labels):
        tp = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(actual),
        }
        if actual:
            f1s.append(f1)
    n = int(confusion.sum())
    return {
        "n": n,
        "accuracy": round(float(np.trace(confusion) / n), 4) if n else 0.0,
        "balanced_accuracy": round(balanced_accuracy(y_true, y_pred), 4),
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else 0.0,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "labels": list(labels),
    }
