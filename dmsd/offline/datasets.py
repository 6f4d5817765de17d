"""Labeled datasets, for `dmsd evaluate` and the trainers alike (one loader, so both see the same faces).

FER2013: Kaggle's CSV (`emotion,pixels,Usage`, plain or gzipped) or the folder-per-class layout
(`train/<emotion>/*.jpg`, `test/<emotion>/*.jpg`). Malformed CSV rows are skipped, never guessed: each is
reported with its line number, and loading stops if more than `max_bad_share` of the rows are bad (a wrong
file, not a few damaged rows).

Seatbelt: a `labels.csv` of `path,label` (worn / not_worn, paths relative to the file), or `worn/` and
`not_worn/` folders. Unknown labels, missing files and duplicate rows are reported with their line numbers. Videos
whose label changes: a CSV of `path,frames,label[,person][,split]`, one row per span of frames (`load_belt_clips`).

Eye state, head pose and phone use: a `labels.csv` each (below), paths relative to the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dmsd.errors import DmsdError
from dmsd.frames.images import IMAGE_SUFFIXES
from dmsd.labels import EMOTION_LABELS, PHONE_LABELS, SEATBELT_LABELS

USAGES = ("Training", "PublicTest", "PrivateTest")
SIDE = 48

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


def load_fer2013(path: str | Path, usage: str | None = None, max_bad_share: float = 0.01) -> FaceSet:
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
    images: list[np.ndarray] = []
    labels: list[int] = []
    lines: list[int] = []
    problems: list[str] = []
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
    if not 0 <= label < len(EMOTION_LABELS):
        return f"unknown emotion {label} (0..{len(EMOTION_LABELS) - 1})"
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
    root = path
    if (path / "train").is_dir() or (path / "test").is_dir():
        if usage is None:
            raise DmsdError(
                f"{path}: holds split folders (train/, test/); pick one with a usage "
                "(Training: train/, PublicTest: test/)"
            )
        root = path / ("train" if usage == "Training" else "test")
        if not root.is_dir():
            raise DmsdError(f"{root}: no such folder for usage {usage}")
    class_dirs = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    unknown = sorted(set(class_dirs) - set(EMOTION_LABELS))
    if unknown:
        raise DmsdError(f"{root}: folders {unknown} are not emotion labels ({', '.join(EMOTION_LABELS)})")
    images, labels, problems = [], [], []
    for label, name in enumerate(EMOTION_LABELS):
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


@dataclass(frozen=True)
class LabeledImage:
    path: Path
    label: str
    line: int | None  # in labels.csv; None for the folder layout
    split: str | None = None  # labels.csv's optional split column (train / valid / test)


def load_labeled_images(path: str | Path) -> list[LabeledImage]:
    """A seatbelt set: a labels.csv (path,label) or a folder holding worn/ and not_worn/."""
    path = Path(path)
    if path.is_dir() and not (path / "labels.csv").is_file():
        images = []
        for label in SEATBELT_LABELS:
            folder = path / label
            if folder.is_dir():
                images += [
                    LabeledImage(p, label, None) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
                ]
        if not images:
            raise DmsdError(f"{path}: no labels.csv and no images in worn/ or not_worn/")
        return images
    csv_path = path / "labels.csv" if path.is_dir() else path
    if not csv_path.is_file():
        raise DmsdError(f"{csv_path}: no such labels file (expected labels.csv, or worn/ and not_worn/ folders)")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if not {"path", "label"} <= set(header):
        raise DmsdError(f"{csv_path}: needs a header line with path,label")
    seen: dict[str, int] = {}

    def parse(row: dict, line: int) -> LabeledImage:
        if row["label"] not in SEATBELT_LABELS:
            raise ValueError(f"unknown label {row['label']!r} (allowed: {', '.join(SEATBELT_LABELS)})")
        path = _image_path(csv_path, row)
        if row["path"] in seen:
            raise ValueError(f"duplicate of line {seen[row['path']]} ({row['path']})")
        seen[row["path"]] = line
        return LabeledImage(path, row["label"], line, row.get("split") or None)

    return _rows(csv_path, parse)


@dataclass(frozen=True)
class FrameSpan:
    """Frames `first` to `last` of a video, both included (`last` None: to the end), and their truth."""

    first: int
    last: int | None
    label: str
    line: int  # in the span file, for error messages

    def holds(self, index: int) -> bool:
        return self.first <= index and (self.last is None or index <= self.last)

    def __str__(self) -> str:
        return f"frames {self.first}-{'end' if self.last is None else self.last}"


@dataclass(frozen=True)
class LabeledClip:
    """A video and the spans of its frames with a known truth; frames outside every span are not scored."""

    path: Path
    name: str  # the path as the span file writes it, for reports
    spans: tuple[FrameSpan, ...]
    person: str | None = None
    split: str | None = None

    def label_at(self, index: int) -> str | None:
        return next((span.label for span in self.spans if span.holds(index)), None)

    def check_length(self, where: str, frames: int) -> None:
        """A span that runs past the video's last frame is a typo in the span file."""
        for span in self.spans:
            if (span.last if span.last is not None else span.first) >= frames:
                raise DmsdError(
                    f"{where}:{span.line}: {span} run past the end of {self.path.name}, which has {frames} frames "
                    f"(0-{frames - 1})"
                )


_FRAMES = re.compile(r"^(?P<first>\d+)-(?P<last>\d+)$")


def load_belt_clips(path: str | Path, root: str | Path | None = None) -> list[LabeledClip]:
    """Videos with the belt's truth (worn or not_worn) per span of frames: see `load_labeled_clips`."""
    return load_labeled_clips(path, SEATBELT_LABELS, root)


def load_phone_clips(path: str | Path, root: str | Path | None = None) -> list[LabeledClip]:
    """Videos with the phone's truth (call, texting or none) per span of frames: see `load_labeled_clips`."""
    return load_labeled_clips(path, PHONE_LABELS, root)


def load_labeled_clips(path: str | Path, labels: list[str], root: str | Path | None = None) -> list[LabeledClip]:
    """Videos with a truth per span of frames: a CSV of `path,frames,label[,person][,split]`, one row per span.
    `frames` is `FIRST-LAST` (frame numbers from 0, both included) or `all`; `label` one of `labels`; rows of one
    video may not overlap. Paths are relative to `root` (default: the CSV's folder). Every bad row is a one-line error
    with its line number; a span past a video's end is caught by `LabeledClip.check_length`."""
    csv_path = _labels_csv(Path(path), {"path", "frames", "label"})
    base = Path(root) if root is not None else csv_path.parent
    spans: dict[str, list[FrameSpan]] = {}
    about: dict[str, tuple[str | None, str | None]] = {}

    def parse(row: dict, line: int) -> None:
        if row["label"] not in labels:
            raise ValueError(f"unknown label {row['label']!r} (allowed: {', '.join(labels)})")
        frames = (row["frames"] or "").strip()
        match = _FRAMES.match(frames)
        if frames == "all":
            span = FrameSpan(0, None, row["label"], line)
        elif match and int(match["first"]) <= int(match["last"]):
            span = FrameSpan(int(match["first"]), int(match["last"]), row["label"], line)
        else:
            raise ValueError(f"frames {frames!r}: write FIRST-LAST (from 0, FIRST <= LAST) or all")
        if not (base / row["path"]).is_file():
            raise ValueError(f"no such video {row['path']}")
        for other in spans.get(row["path"], []):
            if span.holds(other.first) or other.holds(span.first):
                raise ValueError(f"{span} overlap {other} of line {other.line} ({row['path']})")
        spans.setdefault(row["path"], []).append(span)
        about[row["path"]] = (row.get("person") or None, row.get("split") or None)

    _rows(csv_path, parse)
    return [
        LabeledClip(base / name, name, tuple(sorted(found, key=lambda s: s.first)), *about[name])
        for name, found in spans.items()
    ]


EYE_STATES = ("closed", "open")


@dataclass(frozen=True)
class EyeImage:
    path: Path
    closed: bool
    split: str | None = None
    subject: str | None = None  # the person, where the labels say (to score people a model never saw)


@dataclass(frozen=True)
class PoseImage:
    path: Path
    yaw: float
    pitch: float


def _class_folders(path: Path, labels: tuple[str, ...]) -> list[tuple[Path, str]]:
    """The images of a folder per class (`path/<label>/`), each with its label, in label then name order."""
    images = [
        (p, label)
        for label in labels
        if (path / label).is_dir()
        for p in sorted((path / label).iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        raise DmsdError(f"{path}: no labels.csv and no images in {' or '.join(f'{label}/' for label in labels)}")
    return images


def _labels_csv(path: Path, columns: set[str]) -> Path:
    """The labels.csv that `path` names or holds, with `columns` in its header."""
    csv_path = path / "labels.csv" if path.is_dir() else path
    if not csv_path.is_file():
        raise DmsdError(f"{csv_path}: no such labels file")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if not columns <= set(header):
        raise DmsdError(f"{csv_path}: needs a header line with {','.join(sorted(columns))}")
    return csv_path


def _image_path(csv_path: Path, row: dict) -> Path:
    """The row's image, relative to the labels file; ValueError if there is no such file."""
    path = csv_path.parent / row["path"]
    if not path.is_file():
        raise ValueError(f"no such file {row['path']}")
    return path


def _rows(csv_path: Path, parse: Callable[[dict, int], object]) -> list:
    """parse(row, line) for every row of a labels CSV; every bad row (a ValueError) is reported with its line
    number, three in the message, and none is guessed."""
    items, problems = [], []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            try:
                items.append(parse(row, reader.line_num))
            except ValueError as exc:
                problems.append(f"{csv_path}:{reader.line_num}: {exc}")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise DmsdError(f"{len(problems)} bad row(s): {shown}")
    if not items:
        raise DmsdError(f"{csv_path}: no rows")
    return items


def load_eye_states(path: str | Path, split: str | None = None, subjects: list[str] | None = None) -> list[EyeImage]:
    """Faces labelled closed/open: a labels.csv of path,eye_state[,split][,subject] (the file or a folder holding
    it), or a folder with closed/ and open/. `split` keeps the rows of that split, `subjects` those of these
    people."""
    path = Path(path)
    if path.is_dir() and not (path / "labels.csv").is_file():
        if subjects:
            raise DmsdError(f"{path}: --subjects needs a labels.csv with a subject column")
        return [EyeImage(p, state == "closed") for p, state in _class_folders(path, EYE_STATES)]
    csv_path = _labels_csv(path, {"path", "eye_state"})

    def parse(row: dict, line: int) -> EyeImage:
        if row["eye_state"] not in EYE_STATES:
            raise ValueError(f"unknown eye_state {row['eye_state']!r} (allowed: {', '.join(EYE_STATES)})")
        closed = row["eye_state"] == "closed"
        return EyeImage(_image_path(csv_path, row), closed, row.get("split") or None, row.get("subject") or None)

    images = _rows(csv_path, parse)
    if split is not None:
        images = [image for image in images if image.split == split]
        if not images:
            raise DmsdError(f"{csv_path}: no rows of split {split!r}")
    if subjects:
        images = [image for image in images if image.subject in subjects]
        if not images:
            raise DmsdError(
                f"{csv_path}: no rows of subject {', '.join(subjects)} (a subject column names each row's person)"
            )
    return images


def load_head_poses(path: str | Path) -> list[PoseImage]:
    """Faces with their head pose: a labels.csv of path,yaw_deg,pitch_deg (the file or a folder holding it)."""
    csv_path = _labels_csv(Path(path), {"path", "yaw_deg", "pitch_deg"})

    def parse(row: dict, line: int) -> PoseImage:
        try:
            yaw, pitch = float(row["yaw_deg"]), float(row["pitch_deg"])
        except ValueError:
            raise ValueError(f"yaw_deg {row['yaw_deg']!r} and pitch_deg {row['pitch_deg']!r} must be numbers") from None
        return PoseImage(_image_path(csv_path, row), yaw, pitch)

    return _rows(csv_path, parse)


YAWN_LABELS = ("yawn", "no_yawn")


@dataclass(frozen=True)
class YawnImage:
    path: Path
    yawn: bool


def load_yawns(path: str | Path) -> list[YawnImage]:
    """Faces labelled yawn/no_yawn: a labels.csv whose `label` (or `yawn`, or `source_label`, as the shared YawDD
    frames have it) column says yawn or no_yawn, or a folder with yawn/ and no_yawn/."""
    path = Path(path)
    if path.is_dir() and not (path / "labels.csv").is_file():
        return [YawnImage(p, label == "yawn") for p, label in _class_folders(path, YAWN_LABELS)]
    csv_path = _labels_csv(path, {"path"})
    with open(csv_path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    column = next((name for name in ("label", "yawn", "source_label") if name in header), None)
    if column is None:
        raise DmsdError(f"{csv_path}: needs a header line with path and label (yawn or no_yawn)")

    def parse(row: dict, line: int) -> YawnImage:
        if row[column] not in YAWN_LABELS:
            raise ValueError(f"unknown {column} {row[column]!r} (allowed: {', '.join(YAWN_LABELS)})")
        return YawnImage(_image_path(csv_path, row), row[column] == "yawn")

    return _rows(csv_path, parse)


PHONE_SYNONYMS = {"at_ear": "call"}  # the shared State Farm file's name for a call


@dataclass(frozen=True)
class PhoneImage:
    path: Path
    use: str  # call, texting or none
    subject: str | None = None  # the person: split by it, never by image


def load_phone_uses(path: str | Path) -> list[PhoneImage]:
    """Photos labelled with phone use: a labels.csv of path,phone[,subject] (the file or a folder holding it;
    phone is call, texting or none, and the shared State Farm file's at_ear is a call), or a folder with call/,
    texting/ and none/."""
    path = Path(path)
    if path.is_dir() and not (path / "labels.csv").is_file():
        return [PhoneImage(p, use) for p, use in _class_folders(path, tuple(PHONE_LABELS))]
    csv_path = _labels_csv(path, {"path", "phone"})

    def parse(row: dict, line: int) -> PhoneImage:
        use = PHONE_SYNONYMS.get(row["phone"], row["phone"])
        if use not in PHONE_LABELS:
            raise ValueError(f"unknown phone {row['phone']!r} (allowed: {', '.join(PHONE_LABELS)})")
        return PhoneImage(_image_path(csv_path, row), use, row.get("subject") or None)

    return _rows(csv_path, parse)
