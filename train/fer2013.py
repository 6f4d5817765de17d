"""FER2013 loaders: Kaggle's CSV (`emotion,pixels,Usage`, plain or gzipped) and the folder-per-class layout.

Malformed CSV rows are skipped, never guessed: each is reported with its line number, and the loader stops
if more than `max_bad_share` of the rows are bad (a wrong file, not a few damaged rows).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
USAGES = ("Training", "PublicTest", "PrivateTest")
SIDE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp"}
# FER+ vote columns in fer2013new.csv, mapped to our label order (contempt, unknown, NF are not ours).
FERPLUS_COLUMNS = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]

log = logging.getLogger(__name__)


@dataclass
class FaceSet:
    """Grey 48x48 faces (uint8, N x 48 x 48), integer labels, and for CSV data the source line of each row."""

    images: np.ndarray
    labels: np.ndarray
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "FaceSet":
        lines = self.lines[index] if len(self.lines) else self.lines
        return FaceSet(self.images[index], self.labels[index], lines, self.problems)


def load(path: str | Path, usage: str | None = None, max_bad_share: float = 0.01) -> FaceSet:
    """Load FER2013 from a CSV (`.csv`, `.csv.gz`) or a folder tree; `usage` picks a split.

    For a folder tree, `usage` maps Training to `train/` and PublicTest/PrivateTest to `test/`, when the
    tree has those folders; otherwise `path` itself holds one folder per class.
    """
    path = Path(path)
    if not path.exists():
        raise DmsdError(f"{path}: no such dataset (expected a FER2013 .csv, .csv.gz or a folder per class)")
    if usage is not None and usage not in USAGES:
        raise DmsdError(f"usage {usage!r} is not one of {', '.join(USAGES)}")
    faces = _load_folder(path, usage) if path.is_dir() else _load_csv(path, usage, max_bad_share)
    if len(faces) == 0:
        split = f" with usage {usage}" if usage else ""
        raise DmsdError(f"{path}: no faces{split}")
    return faces


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _load_csv(path: Path, usage: str | None, max_bad_share: float) -> FaceSet:
    images, labels, lines, problems = [], [], [], []
    rows = 0
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or [h.strip() for h in header[:2]] != ["emotion", "pixels"]:
                raise DmsdError(f"{path}: not a FER2013 CSV (first line must be 'emotion,pixels,Usage')")
            for row in reader:
                rows += 1
                line = reader.line_num
                problem = _parse_row(row, usage, images, labels)
                if problem == "skip":
                    continue
                if problem:
                    problems.append(f"{path}:{line}: {problem}")
                    continue
                lines.append(line)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DmsdError(f"{path}: cannot read ({exc})") from None
    for problem in problems[:20]:
        log.warning("skipped row %s", problem)
    if len(problems) > 20:
        log.warning("skipped %d more malformed rows", len(problems) - 20)
    if rows and len(problems) > max_bad_share * rows:
        raise DmsdError(f"{path}: {len(problems)} of {rows} rows are malformed, e.g. {problems[0]}")
    stack = np.stack(images) if images else np.zeros((0, SIDE, SIDE), np.uint8)
    return FaceSet(stack, np.array(labels, dtype=np.int64), np.array(lines, dtype=np.int64), problems)


def _parse_row(row: list[str], usage: str | None, images: list, labels: list) -> str | None:
    """Append one parsed row; return a problem description, "skip" for another split, or None."""
    if len(row) < 2:
        return f"expected emotion,pixels[,Usage], got {len(row)} field(s)"
    row_usage = row[2].strip() if len(row) > 2 else None
    if row_usage is not None and row_usage not in USAGES:
        return f"unknown usage {row_usage!r}"
    if usage is not None and row_usage != usage:
        return "skip"
    try:
        label = int(row[0])
    except ValueError:
        return f"emotion {row[0]!r} is not a number"
    if not 0 <= label < len(LABELS):
        return f"unknown emotion {label} (0..{len(LABELS) - 1})"
    try:
        pixels = np.array(row[1].split(), dtype=np.int16)
    except ValueError:
        return "pixels are not all numbers"
    if pixels.size != SIDE * SIDE:
        return f"{pixels.size} pixels, expected {SIDE * SIDE}"
    if pixels.min() < 0 or pixels.max() > 255:
        return "pixel values outside 0..255"
    images.append(pixels.astype(np.uint8).reshape(SIDE, SIDE))
    labels.append(label)
    return None


def _load_folder(path: Path, usage: str | None) -> FaceSet:
    import cv2

    root = path
    if usage is not None and (path / "train").is_dir():
        root = path / ("train" if usage == "Training" else "test")
    class_dirs = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    unknown = sorted(set(class_dirs) - set(LABELS))
    if unknown:
        raise DmsdError(f"{root}: folders {unknown} are not emotion labels ({', '.join(LABELS)})")
    images, labels, problems = [], [], []
    for label, name in enumerate(LABELS):
        if name not in class_dirs:
            continue
        for file in sorted(class_dirs[name].iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if image is None:
                problems.append(f"{file}: not a readable image")
                continue
            images.append(cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA))
            labels.append(label)
    for problem in problems:
        log.warning("skipped %s", problem)
    stack = np.stack(images) if images else np.zeros((0, SIDE, SIDE), np.uint8)
    return FaceSet(stack, np.array(labels, dtype=np.int64), problems=problems)


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
