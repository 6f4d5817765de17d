"""FER2013 for training: the one loader (dmsd.offline.datasets), plus FER+ votes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError
from dmsd.labels import EMOTION_LABELS
from dmsd.offline.datasets import SIDE, USAGES, FaceSet  # noqa: F401  (re-exported for the trainer)
from dmsd.offline.datasets import load_fer2013 as load  # noqa: F401  (the one loader)

# FER+ vote columns in fer2013new.csv, mapped to our label order (contempt, unknown, NF are not ours).
FERPLUS_COLUMNS = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def ferplus_votes(path: str | Path, faces: FaceSet) -> np.ndarray:
    """FER+ votes (N x 7, our label order) for CSV-loaded `faces`, matched by source line.

    fer2013new.csv has one row per fer2013.csv row, in the same order, so line k of one is line k of the
    other. Rows whose annotators mostly said "not a face" get all-zero votes (callers drop them).
    """
    path = Path(path)
    if not path.exists():
        raise DmsdError(f"{path}: no such FER+ votes file")
    if not len(faces.lines):
        raise DmsdError("FER+ votes match CSV rows by line; they cannot be used with a folder dataset")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if faces.lines.max() - 2 >= len(rows):
        raise DmsdError(f"{path}: {len(rows)} rows, fewer than the FER2013 CSV it should match")
    picked = [rows[line - 2] for line in faces.lines]
    votes = np.array([[float(r[c]) for c in FERPLUS_COLUMNS] for r in picked], dtype=np.float32)
    not_face = np.array([float(r["NF"]) for r in picked]) > votes.sum(axis=1)
    votes[not_face] = 0.0
    return votes


def soft_targets(labels: np.ndarray, votes: np.ndarray | None, weight: float) -> np.ndarray:
    """Training targets (N x 7): (1 - weight) x the one-hot FER2013 label + weight x the shares in `votes`.

    `votes`: FER+'s ten annotators per face (their shares say how ambiguous a face is, which one noisy FER2013
    label cannot), or teachers' probabilities for distillation. A row without a vote keeps its one-hot label.
    """
    targets = np.eye(len(EMOTION_LABELS), dtype=np.float32)[labels]
    if votes is None or weight == 0:
        return targets
    totals = votes.sum(axis=1, keepdims=True)
    voted = totals[:, 0] > 0
    shares = votes / np.maximum(totals, 1e-6)
    targets[voted] = (1 - weight) * targets[voted] + weight * shares[voted]
    return targets
