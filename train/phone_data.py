"""The phone trainer's pictures: the region the daemon's phone stage judges (dmsd.vision.stages.phone.PhoneRegion),
cut from labelled photos and labelled clips as the daemon cuts it.

Sources, each reported apart (pictures, faces found, regions kept):
  photos            labelled photos (path,phone,subject; e.g. State Farm's, a camera beside the driver), split by
                    driver
  negatives         photos of drivers with no phone in hand (YawDD's in-car frames), always trained on, as none
  clips             videos with the phone's truth per span of frames (train/labels/phone_clips.csv: the near-infrared
                    drivers' calls and phone-free clips, and the other shared clips, phone-free), tracked as the daemon
                    tracks a camera; split by person
A photo is searched for a face as `dmsd --once` searches a still; a clip's frame whose face is lost is judged on the
last face's region, as the daemon judges it. A face-anchored region needs a face: pictures without one are counted
and left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from dmsd.config import Config
from dmsd.frames.images import read_image
from dmsd.labels import PHONE_LABELS
from dmsd.offline.datasets import LabeledClip
from dmsd.vision.geometry import Box
from dmsd.vision.stages.base import FrameWork
from dmsd.vision.stages.face import FaceStage
from dmsd.vision.stages.phone import PhoneRegion
from train.clips import frame_rate, tracked_frames

log = logging.getLogger(__name__)
NEGATIVES = "negatives"  # the subject of every negative photo: always trained on, never held out


class RegionSet:
    """Grey regions at the model's input size, with their class, subject (a driver or person: the split is by it)
    and source, and per source what was found."""

    def __init__(self, region: PhoneRegion, size: tuple[int, int]):
        self.region, self.size = region, size
        self.x: list[np.ndarray] = []
        self.y: list[int] = []
        self.subject: list[str] = []
        self.source: list[str] = []
        self.report: dict[str, dict[str, int]] = {}

    def add(self, grey: np.ndarray, face: Box | None, label: str, subject: str, source: str) -> None:
        stats = self.report.setdefault(source, {"pictures": 0, "face": 0, "region": 0})
        stats["pictures"] += 1
        stats["face"] += face is not None
        height, width = grey.shape[:2]
        box = self.region.box(face, width, height)
        if box is None:
            return
        stats["region"] += 1
        crop = grey[box.y : box.y + box.h, box.x : box.x + box.w]
        self.x.append(cv2.resize(crop, self.size, interpolation=cv2.INTER_AREA))  # as Classifier.preprocess
        self.y.append(PHONE_LABELS.index(label))
        self.subject.append(subject)
        self.source.append(source)

    def arrays(self) -> dict:
        return {
            "x": np.stack(self.x) if self.x else np.zeros((0, self.size[1], self.size[0]), np.uint8),
            "y": np.array(self.y, dtype=np.int64),
            "subject": np.array(self.subject, dtype=str),
            "source": np.array(self.source, dtype=str),
        }


def add_photos(regions: RegionSet, photos: list[tuple[Path, str, str]], source: str, config: Config) -> None:
    """Photos (path, label, subject), each searched for a face as a still is."""
    face_stage = FaceStage.from_config(config, video=False)
    for path, label, subject in photos:
        image = read_image(path)
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        face = face_stage.run(FrameWork(image, grey)).box if regions.region.anchor == "face" else None
        regions.add(grey, face, label, subject, source)


def add_clips(regions: RegionSet, clips: list[LabeledClip], config: Config, rate_hz: float, limit: int = 0) -> None:
    """The labelled frames of each clip, about `rate_hz` a second, every frame tracked; a lost face's region is the
    last face's. The subject is the clip's person. limit: at most this many frames of each clip (smoke tests)."""
    for clip in clips:
        step = max(1, round(frame_rate(clip.path, rate_hz) / rate_hz))
        person = clip.person or clip.path.stem
        last_face: Box | None = None
        kept = 0
        for index, work in tracked_frames(clip.path, config):
            last_face = work.face or last_face
            label = clip.label_at(index)
            if label is None or index % step:
                continue
            if limit and kept >= limit:
                break
            kept += 1
            regions.add(work.grey, last_face, label, person, f"clip:{person}")
