"""OpenCV's Haar cascade as a face detector plugin (`detector.type: haar`, the default).

It makes the face stage cheap per frame: the frame is scaled and equalised once (`prepare`), a tracked face is
searched for on those same pixels at a narrow range of sizes (`detect_near`), and a full search is cut into bands
of face sizes spread over several frames (`HaarScan`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from dmsd.config import DetectorConfig, ModelsConfig, option
from dmsd.errors import DmsdError
from dmsd.vision.detectors import register, settings_of
from dmsd.vision.detectors.base import FaceDetector, Scan
from dmsd.vision.geometry import Box, iou

Prepared = tuple[np.ndarray, float]  # the frame scaled to detect_width and equalised, and the scale
CASCADES = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]  # the cascades OpenCV ships
PROFILE_CASCADE = "haarcascade_profileface.xml"  # OpenCV's, for heads turned to one side
# OpenCV's grouping tolerance inside detectMultiScale; we group raw hits ourselves with the same value.
GROUP_EPS = 0.2


@dataclass
class HaarConfig:
    """`detector.haar`: the Haar plugin's own keys."""

    cascade: str = option(
        "haarcascade_frontalface_default.xml",
        doc="A cascade shipped with OpenCV (cv2.data.haarcascades) or a path to one.",
    )
    scale_factor: float = option(
        1.1,
        low=1.01,
        high=2.0,
        doc="Haar parameters: the image pyramid step (1.01-2.0) and how many overlapping hits make a face (1-20).",
    )
    min_neighbors: int = option(3, low=1, high=20)
    equalize: bool = option(True, doc="Equalise the histogram before detection (helps dim and infrared cabins).")


@register("haar", HaarConfig, doc="The Haar plugin's own keys (detector.type: haar).")
class HaarFaceDetector(FaceDetector[Prepared]):
    """OpenCV's Haar cascade, run on a copy of the frame scaled down to `detect_width`."""

    def __init__(self, config: DetectorConfig, models: ModelsConfig | None = None, haar: HaarConfig | None = None):
        """haar: its own keys (None: as `detector.haar` says)."""
        self.config = config
        self.haar = haar if haar is not None else settings_of(config, "haar", HaarConfig)
        path = resolve_cascade(self.haar.cascade)
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise DmsdError(f"detector.haar.cascade: {path} is not a Haar cascade file")
        self.window = int(self.cascade.getOriginalWindowSize()[0])

    def prepare(self, grey: np.ndarray) -> Prepared:
        """The frame as the cascade sees it (scaled to detect_width, equalised) and the scale used."""
        height, width = grey.shape[:2]
        # Scaled to detect_width, but never so far that the smallest face sought (min_face of the height) falls
        # under the cascade's window: a wide-angle cabin's small face is searched at the scale it needs.
        scale = min(1.0, max(self.config.detect_width / width, self.window / (self.config.min_face * height)))
        small = (
            grey
            if scale == 1.0
            else cv2.resize(grey, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        )
        if self.haar.equalize:
            small = cv2.equalizeHist(small)
        return small, scale

    def min_side(self, small: np.ndarray) -> int:
        return max(round(self.config.min_face * small.shape[0]), self.window)

    def raw_hits(self, small: np.ndarray, min_side: int, max_side: int | None = None, neighbors: int = 0) -> np.ndarray:
        found = self.cascade.detectMultiScale(
            small,
            scaleFactor=self.haar.scale_factor,
            minNeighbors=neighbors,
            minSize=(min_side, min_side),
            maxSize=(max_side, max_side) if max_side else (0, 0),
        )
        return np.asarray(found, dtype=np.int32).reshape(-1, 4)

    def detect(self, grey: np.ndarray) -> list[Box]:
        small, scale = self.prepare(grey)
        found = self.raw_hits(small, self.min_side(small), neighbors=self.haar.min_neighbors)
        return [Box(*map(int, f)).scaled(1 / scale) for f in found]

    def detect_near(
        self,
        grey: np.ndarray,
        face: Box,
        margin: float,
        sizes: tuple[float, float],
        prepared: Prepared | None = None,
    ) -> list[Box]:
        # Same pixels as the full search (the scaled, equalised frame), fewer positions and sizes: a face the
        # full search would find here is found here too, at a fraction of the cost.
        small, scale = prepared or self.prepare(grey)
        region = face.scaled(scale).grown(margin).clipped(small.shape[1], small.shape[0])
        if region is None:
            return []
        crop = small[region.y : region.y + region.h, region.x : region.x + region.w]
        side = face.w * scale
        low = max(round(sizes[0] * side), self.window)
        high = max(round(sizes[1] * side), low)
        found = self.raw_hits(crop, low, high, self.haar.min_neighbors)
        return [Box(int(x) + region.x, int(y) + region.y, int(w), int(h)).scaled(1 / scale) for x, y, w, h in found]

    def scan(self, slices: int) -> HaarScan:
        return HaarScan(self, slices)

    def turned(self) -> HaarFaceDetector | None:
        """OpenCV's profile cascade (one side only: the still search runs it on the mirror image too)."""
        if self.haar.cascade == PROFILE_CASCADE:
            return None
        return HaarFaceDetector(self.config, haar=replace(self.haar, cascade=PROFILE_CASCADE))


class HaarScan(Scan[Prepared]):
    """The full Haar search cut into `slices` bands of face sizes of about equal cost, one band a frame.

    Largest faces first (a driver is close to the camera). Raw hits are pooled over the cycle and grouped as
    detectMultiScale groups them, so a full cycle finds what one full search finds; a face is reported in the
    frame whose band adds evidence for it, without waiting for the cycle to end.
    """

    def __init__(self, detector: HaarFaceDetector, slices: int):
        self.detector, self.slices = detector, slices
        self.shape: tuple[int, int] | None = None
        self.bands: list[tuple[int, int]] = []
        self.index = 0
        self.pool = np.empty((0, 4), np.int32)

    def plan(self, small: np.ndarray) -> list[tuple[int, int]]:
        """Window-size bands (min, max) over the pyramid levels detectMultiScale visits, in equal-cost order."""
        height, width = small.shape
        low, step, window = self.detector.min_side(small), self.detector.haar.scale_factor, self.detector.window
        levels: list[tuple[int, float]] = []
        factor = 1.0
        while True:
            side = round(window * factor)
            if round(width / factor) < window or round(height / factor) < window:
                break
            if side >= low and (not levels or side != levels[-1][0]):
                # Cost ~ windows tried: the level's pixels, every pixel once the factor passes 2 (OpenCV steps
                # by 2 pixels below that).
                levels.append((side, (width / factor) * (height / factor) * (1 if factor > 2 else 0.25)))
            factor *= step
        levels.reverse()  # largest faces first
        total = sum(cost for _, cost in levels)
        bands: list[tuple[int, int]] = []
        start, spent = 0, 0.0
        for i, (_, cost) in enumerate(levels):
            spent += cost
            if spent >= total * (len(bands) + 1) / self.slices or i == len(levels) - 1:
                bands.append((levels[i][0], levels[start][0]))
                start = i + 1
        return bands

    def step(self, grey: np.ndarray, prepared: Prepared | None = None, known: Box | None = None) -> list[Box]:
        small, scale = prepared or self.detector.prepare(grey)
        if known is not None:
            # The tracked face is blanked out: windows on a face are the ones that pass most cascade stages,
            # and the tracker already has that face.
            small = small.copy()
            k = known.scaled(scale)
            small[max(k.y, 0) : k.y + k.h, max(k.x, 0) : k.x + k.w] = int(small.mean())
        if small.shape != self.shape:
            self.shape, self.bands, self.index = small.shape, self.plan(small), 0
            self.pool = np.empty((0, 4), np.int32)
        if not self.bands:
            return []
        low, high = self.bands[self.index]
        hits = self.detector.raw_hits(small, low, high)
        if self.index == 0:
            self.pool = hits
        else:
            self.pool = np.concatenate([self.pool, hits])
        self.index = (self.index + 1) % len(self.bands)
        if not len(hits):
            return []
        groups, _ = cv2.groupRectangles(self.pool.tolist(), self.detector.haar.min_neighbors, GROUP_EPS)
        fresh = [Box(*map(int, g)) for g in groups]
        fresh = [g for g in fresh if any(iou(g, Box(*map(int, h))) > 0.5 for h in hits)]
        return [g.scaled(1 / scale) for g in fresh]


def resolve_cascade(name: str) -> Path:
    """A cascade file path, or the name of one shipped in OpenCV's cv2.data.haarcascades."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = CASCADES / name
    if shipped.is_file():
        return shipped
    known = sorted(p.name for p in CASCADES.glob("*.xml"))[:4]
    raise DmsdError(
        f"detector.haar.cascade: {name} is neither a file nor a cascade shipped with OpenCV (e.g. {', '.join(known)})"
    )
