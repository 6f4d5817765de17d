"""The seat while the face is lost: how much the driver's place still looks as it did when the face was last seen.

A head that drops forward or tips back leaves the face detectors with nothing, but the shoulders and chest stay
where they were; a driver who gets out takes them along. So on every frame with a face the region of the head,
shoulders and chest is kept (small, blurred, grey), and on a frame without one the same region is compared with it:
normalised correlation, 1 when it looks the same, about 0 when unrelated. Video only (a still has no last face).
Whether that means someone still sits there is decided in dmsd.driver (the nodding rule, README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dmsd.config import Config
from dmsd.vision.geometry import Box
from dmsd.vision.results import Product
from dmsd.vision.stages.base import FrameWork, Stage

# The region, in face boxes from the face's top left: a face to each side, half a face above, two and a half below.
REGION = (-1.0, -0.5, 3.0, 3.0)  # x, y, width, height
SIDE = 24  # pixels a side of the compared patches: the shape of a body, not its texture


@dataclass(frozen=True)
class SeatOccupancy:
    """similarity: the driver's region now against the same region when the face was last seen (-1..1)."""

    similarity: float


OCCUPANCY = Product("occupancy", SeatOccupancy)


def seat_region(face: Box, width: int, height: int) -> Box | None:
    x, y, w, h = REGION
    region = Box(round(face.x + x * face.w), round(face.y + y * face.h), round(w * face.w), round(h * face.h))
    return region.clipped(width, height)


def patch(grey: np.ndarray, region: Box) -> np.ndarray:
    crop = grey[region.y : region.y + region.h, region.x : region.x + region.w]
    small = cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.GaussianBlur(small, (3, 3), 0)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 1e-6 else 0.0


class OccupancyStage(Stage[SeatOccupancy]):
    product = OCCUPANCY
    needs = ()  # it measures the frames without a face

    def __init__(self) -> None:
        self.region: Box | None = None
        self.reference: np.ndarray | None = None
        self.shape: tuple[int, ...] | None = None

    @classmethod
    def from_config(cls, config: Config, video: bool) -> OccupancyStage | None:
        return cls() if video else None

    def run(self, frame: FrameWork) -> SeatOccupancy | None:
        face = frame.face
        if frame.grey.shape != self.shape:  # another camera or size: nothing to compare with
            self.region, self.reference, self.shape = None, None, frame.grey.shape
        if face is not None:
            self.region = seat_region(face, frame.width, frame.height)
            self.reference = patch(frame.grey, self.region) if self.region is not None else None
            return None
        if self.region is None or self.reference is None:
            return None
        return SeatOccupancy(correlation(patch(frame.grey, self.region), self.reference))
