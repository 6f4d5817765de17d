"""Eye-state dataset builder: eye patches, open or closed, cut as the daemon cuts them where the source is faces.

    python -m train eyes --data ../shared/data ...   (builds, caches, then trains)

Sources, each reported separately:
  cew_patches            24x24 eye patches of web faces (CEW); split by face (`face_id`), never by patch
  eye_closeups           close-up eye photos; no identities given, so split by image
  roboflow_eye_detector  whole faces: the daemon's still-image face search and face mesh find the face and
                         dmsd.vision.eye_patches cuts both eyes, as at run time; its own train/valid split
  incluit                open eyes of a real person on video (driver_video/incluit/video1.mp4, RGB), every
                         `VIDEO_STEP`th frame, cut by the daemon's video pipeline; frames whose eyes are
                         narrower than `BLINK_SHARE` of the video's usual opening are left out (blinks); train only
  mrl_eyes_nir           near-infrared eye crops of 30 people (MRL); split by `subject`: `MRL_TEST` subjects are a
                         held-out test split (never trained on, never used to choose), `MRL_VALID` the valid split
  car_eyes               real drivers on video (driver_video/: near-infrared and colour cabins), each eye labelled
                         open/closed/unknown by eye in train/labels/car_eyes.csv; the patches are cut again here
                         from the clips by the daemon's video pipeline (every frame through the face tracker);
                         split by person: `CAR_TEST` people are held out, `CAR_VALID` the valid split
Patch sets are the eye alone already: they are resized to the model's side. MRL's crops are framed about as ours
are (the eye's corners span roughly half to 90% of the side, varying by person, against our 2/3), so they are
taken as they come; the augmentation's zoom covers part of the difference.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dmsd.config import Config
from dmsd.labels import EYE_LABELS as LABELS
from dmsd.offline.datasets import load_eye_states
from dmsd.vision.eye_patches import eye_patches, stretch
from dmsd.vision.face_measures import eyes as eye_aspect_ratios
from dmsd.vision.stages.base import FrameWork
from dmsd.vision.stages.face import FaceStage
from train.clips import tracked_frames

log = logging.getLogger(__name__)
VIDEO_STEP = 4
BLINK_SHARE = 0.75
# MRL subjects held out as test: of the 30 sorted, every fifth from the fifth (fixed before any training).
MRL_TEST = ("s0006", "s0011", "s0016", "s0022", "s0029", "s0037")
# Valid: five more people, two of them with glasses in part of their crops (as half the test people have).
MRL_VALID = ("s0003", "s0009", "s0014", "s0018", "s0024")
CAR_LABELS = Path(__file__).parent / "labels" / "car_eyes.csv"
CAR_TEST = ("nir_C", "yawdd_46", "nitymed_1")  # a near-infrared person and two colour ones, never trained on
CAR_VALID = ("bundled",)  # the bundled clip: kept out of training, as the tests run it


@dataclass
class EyeSet:
    """Patches (N x side x side uint8), labels (index into LABELS), and per patch its split, source and group."""

    x: list[np.ndarray]
    y: list[int]
    split: list[str]
    source: list[str]
    group: list[str]

    def add(self, patch: np.ndarray, label: int, split: str, source: str, group: str) -> None:
        self.x.append(patch)
        self.y.append(label)
        self.split.append(split)
        self.source.append(source)
        self.group.append(group)


def split_of(group: str, valid_share: float = 0.2) -> str:
    """A stable split by group: the same face (or image) always lands on the same side."""
    digest = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16)
    return "valid" if digest % 1000 < valid_share * 1000 else "train"


def patch_set(
    root: Path,
    side: int,
    out: EyeSet,
    source: str,
    group_column: str | None,
    split: Callable[[str], str] = split_of,
) -> dict:
    """A labels.csv of eye patches (path,eye_state[,face_id]); each resized to side x side and stretched, its split
    the group's (`split`)."""
    import csv

    with open(root / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    used = 0
    for row in rows:
        patch = cv2.imread(str(root / row["path"]), cv2.IMREAD_GRAYSCALE)
        if patch is None or row["eye_state"] not in LABELS:
            continue
        group = row.get(group_column or "", "") or row["path"]
        interpolation = cv2.INTER_AREA if patch.shape[0] > side else cv2.INTER_LINEAR
        out.add(
            stretch(cv2.resize(patch, (side, side), interpolation=interpolation)),
            LABELS.index(row["eye_state"]),
            split(group),
            source,
            group,
        )
        used += 1
    return {"rows": len(rows), "patches": used}


def mrl_split(subject: str) -> str:
    return "test" if subject in MRL_TEST else "valid" if subject in MRL_VALID else "train"


def mrl_set(root: Path, side: int, out: EyeSet) -> dict:
    """MRL's near-infrared eye crops (path,eye_state,subject,...), resized and stretched as patch_set does, split by
    subject: test, valid or train."""
    start = len(out.split)
    report = patch_set(root, side, out, "mrl_eyes_nir", "subject", mrl_split)
    counts = {"train": 0, "valid": 0, "test": 0}
    for split in out.split[start:]:
        counts[split] += 1
    return {**report, **counts}


def read_car_labels(path: Path) -> list[dict]:
    """train/labels/car_eyes.csv: clip (under the data folder), frame, eye (right/left, the person's own), label
    (open/closed/unknown), person, notes."""
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def car_split(person: str) -> str:
    return "test" if person in CAR_TEST else "valid" if person in CAR_VALID else "train"


def tracked_meshes(
    path: Path, config: Config, until: int | None = None
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Every frame of a clip through the video face tracker (so the mesh tracks as in the daemon), up to frame
    `until`: (index, grey, mesh points) of each frame the mesh confirms a face in."""
    for index, work in tracked_frames(path, config, until):
        if work.landmarks is not None:
            yield index, work.grey, work.landmarks.points


def cut_clip(path: Path, frames: set[int], side: int, config: Config) -> dict[int, np.ndarray]:
    """Both eyes' patches of the given frames of a clip (`tracked_meshes`); frames without a mesh are missing."""
    return {
        index: eye_patches(grey, points, side)
        for index, grey, points in tracked_meshes(path, config, max(frames, default=-1))
        if index in frames
    }


def car_set(data: Path, side: int, out: EyeSet, config: Config, labels: Path = CAR_LABELS) -> dict:
    """The labelled eyes of real drivers (see the module's docstring); unknown eyes are not trained on."""
    rows = read_car_labels(labels)
    by_clip: dict[str, list[dict]] = {}
    for row in rows:
        by_clip.setdefault(row["clip"], []).append(row)
    per_person: dict[str, dict[str, int]] = {}
    missing = 0
    for clip, clip_rows in by_clip.items():
        cut = cut_clip(data / clip, {int(row["frame"]) for row in clip_rows}, side, config)
        for row in clip_rows:
            counts = per_person.setdefault(row["person"], {"open": 0, "closed": 0, "unknown": 0})
            counts[row["label"]] += 1
            if row["label"] not in LABELS:
                continue
            if int(row["frame"]) not in cut:
                missing += 1
                continue
            patch = cut[int(row["frame"])][0 if row["eye"] == "right" else 1]
            out.add(patch, LABELS.index(row["label"]), car_split(row["person"]), "car_eyes", row["person"])
    used = sum(c["open"] + c["closed"] for c in per_person.values()) - missing
    return {"rows": len(rows), "patches": used, "no_mesh": missing, "per_person": per_person}


def face_set(root: Path, side: int, out: EyeSet, face_stage: FaceStage) -> dict:
    """Faces labelled closed/open: both eyes cut from each face the mesh confirms, with the face's label."""
    images = load_eye_states(root)
    faces = 0
    for image in images:
        picture = cv2.imread(str(image.path))
        if picture is None:
            continue
        grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
        found = face_stage.run(FrameWork(picture, grey))
        if found.landmarks is None:
            continue
        faces += 1
        split = "valid" if image.split == "valid" else "train"
        for patch in eye_patches(grey, found.landmarks.points, side):
            out.add(patch, int(image.closed), split, root.name, str(image.path.name))
    return {"images": len(images), "faces_with_mesh": faces, "patches": 2 * faces}


def open_video(path: Path, side: int, out: EyeSet, config: Config) -> dict:
    """Open eyes from a video of a person awake, blinks left out (see the module's docstring)."""
    found = [
        (eye_patches(grey, points, side), eye_aspect_ratios(points).ratio)
        for index, grey, points in tracked_meshes(path, config)
        if index % VIDEO_STEP == 0
    ]
    usual = float(np.median([ear for _, ear in found])) if found else 0.0
    kept = [patches for patches, ear in found if ear >= BLINK_SHARE * usual]
    for patches in kept:
        for patch in patches:
            out.add(patch, LABELS.index("open"), "train", "incluit", path.name)
    return {"frames_sampled": len(found), "frames_kept": len(kept), "patches": 2 * len(kept)}


def build(data: Path, side: int, config: Config, sources: list[str]) -> dict:
    """Every source's patches as arrays (x, y, split, source, group) and a report per source."""
    out = EyeSet([], [], [], [], [])
    report: dict[str, dict] = {}
    eyes = data / "eyes"
    if "cew_patches" in sources:
        report["cew_patches"] = patch_set(eyes / "cew_patches", side, out, "cew_patches", "face_id")
    if "eye_closeups" in sources:
        report["eye_closeups"] = patch_set(eyes / "eye_closeups", side, out, "eye_closeups", None)
    if "roboflow_eye_detector" in sources:
        face_stage = FaceStage.from_config(config, video=False)
        report["roboflow_eye_detector"] = face_set(eyes / "roboflow_eye_detector", side, out, face_stage)
    if "incluit" in sources:
        report["incluit"] = open_video(data / "driver_video" / "incluit" / "video1.mp4", side, out, config)
    if "mrl_eyes_nir" in sources:
        report["mrl_eyes_nir"] = mrl_set(eyes / "mrl_eyes_nir", side, out)
    if "car_eyes" in sources:
        report["car_eyes"] = car_set(data, side, out, config)
    for name, counts in report.items():
        log.info("%s: %s", name, counts)
    return {
        "x": np.stack(out.x) if out.x else np.zeros((0, side, side), np.uint8),
        "y": np.array(out.y, np.int64),
        "split": np.array(out.split),
        "source": np.array(out.source),
        "group": np.array(out.group),
        "report": report,
    }


SOURCES = ("cew_patches", "eye_closeups", "roboflow_eye_detector", "incluit", "mrl_eyes_nir", "car_eyes")
