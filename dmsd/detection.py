"""Face detection: one interface, detectors as plugins, and the rule that picks the driver's face.

A detector takes a grey frame and returns face boxes in that frame's pixels. New detectors subclass
FaceDetector and register in DETECTORS; `detector.type` in the config picks one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np

from dmsd.config import DetectorConfig
from dmsd.errors import DmsdError
from dmsd.geometry import Box


class FaceDetector(ABC):
    @abstractmethod
    def detect(self, grey: np.ndarray) -> list[Box]:
        """All faces in a grey (H x W uint8) frame, in that frame's pixel coordinates."""


class HaarFaceDetector(FaceDetector):
    """OpenCV's Haar cascade, run on a copy of the frame scaled down to `detect_width`."""

    def __init__(self, config: DetectorConfig):
        self.config = config
        path = resolve_cascade(config.cascade)
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise DmsdError(f"detector.cascade: {path} is not a Haar cascade file")

    def detect(self, grey: np.ndarray) -> list[Box]:
        height, width = grey.shape[:2]
        scale = min(1.0, self.config.detect_width / width)
        small = grey if scale == 1.0 else cv2.resize(grey, (round(width * scale), round(height * scale)),
                                                     interpolation=cv2.INTER_AREA)
        if self.config.equalize:
            small = cv2.equalizeHist(small)
        side = max(round(self.config.min_face * small.shape[0]), 20)
        found = self.cascade.detectMultiScale(small, scaleFactor=self.config.scale_factor,
                                              minNeighbors=self.config.min_neighbors, minSize=(side, side))
        return [Box(*map(int, f)).scaled(1 / scale) for f in found]


DETECTORS: dict[str, type[FaceDetector]] = {"haar": HaarFaceDetector}


def make_detector(config: DetectorConfig) -> FaceDetector:
    return DETECTORS[config.type](config)


def resolve_cascade(name: str) -> Path:
    """A cascade file path, or the name of one shipped in OpenCV's cv2.data.haarcascades."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = Path(cv2.data.haarcascades) / name
    if shipped.is_file():
        return shipped
    known = sorted(p.name for p in Path(cv2.data.haarcascades).glob("*.xml"))[:4]
    raise DmsdError(f"detector.cascade: {name} is neither a file nor a cascade shipped with OpenCV "
                    f"(e.g. {', '.join(known)})")


def pick_driver(faces: list[Box], frame_width: int, seat_side: str = "any") -> Box | None:
    """The driver's face: the largest, or with `seat_side` the largest in that half of the image."""
    if seat_side != "any":
        half = frame_width / 2
        on_side = [f for f in faces if (f.center_x < half) == (seat_side == "left")]
        faces = on_side or faces
    return max(faces, key=lambda f: f.area, default=None)
