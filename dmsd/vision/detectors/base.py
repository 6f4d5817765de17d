"""The face detector interface every plugin implements, and the default full-search scan.

A detector takes a grey frame and returns face boxes in that frame's pixels. Three optional methods let the face
stage (dmsd.vision.face_finder) make a detector cheap per frame: `prepare` (per-frame work both searches share),
`detect_near` (search around a known face at a narrow range of sizes) and `scan` (a full search spread over
several frames). Their defaults are correct for any detector but not faster.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from dmsd.config import DetectorConfig, ModelsConfig
from dmsd.vision.geometry import Box

Prepared = TypeVar("Prepared")  # what a detector's prepare() makes of a frame, handed back to its searches


class FaceDetector(ABC, Generic[Prepared]):
    """Every plugin is made from the `detector` section and where the models are (`make_detector` calls
    `cls(config, models)`); keys of its own go in a sub-section named after it (`detector.haar`), which it reads with
    `settings_of` (dmsd.vision.detectors)."""

    registered_name: ClassVar[str] = ""  # set by @register

    @abstractmethod
    def __init__(self, config: DetectorConfig, models: ModelsConfig | None = None):
        self.config = config

    @abstractmethod
    def detect(self, grey: np.ndarray) -> list[Box]:
        """All faces in a grey (H x W uint8) frame, in that frame's pixel coordinates."""

    def prepare(self, grey: np.ndarray) -> Prepared | None:
        """Work on the frame that detect_near and a scan step can share; passed back to them as `prepared`.
        None by default: a detector with nothing to share need not override it."""
        return None

    def detect_near(
        self, grey: np.ndarray, face: Box, margin: float, sizes: tuple[float, float], prepared: Prepared | None = None
    ) -> list[Box]:
        """Faces within `margin` face sizes of `face`, between sizes[0] and sizes[1] times its width."""
        region = face.grown(margin).clipped(grey.shape[1], grey.shape[0])
        if region is None:
            return []
        crop = grey[region.y : region.y + region.h, region.x : region.x + region.w]
        return [
            Box(f.x + region.x, f.y + region.y, f.w, f.h)
            for f in self.detect(crop)
            if sizes[0] * face.w <= f.w <= sizes[1] * face.w
        ]

    def scan(self, slices: int) -> Scan[Prepared]:
        """A full search spread over `slices` frames; by default the whole search on every frame."""
        return EveryFrameScan(self)

    def turned(self) -> FaceDetector[Any] | None:
        """A variant of this detector for heads turned to one side, which the still-image search runs both ways
        round where this one finds nothing; None (the default) when this detector sees turned heads itself."""
        return None


class Scan(ABC, Generic[Prepared]):
    @abstractmethod
    def step(self, grey: np.ndarray, prepared: Prepared | None = None, known: Box | None = None) -> list[Box]:
        """Search this frame's share; return the faces this frame gave evidence for. `prepared`: the detector's
        prepare() of this frame; `known`: a face already found in this frame, which the scan may skip."""


class EveryFrameScan(Scan[Any]):
    def __init__(self, detector: FaceDetector[Any]):
        self.detector = detector

    def step(self, grey: np.ndarray, prepared: object = None, known: Box | None = None) -> list[Box]:
        return self.detector.detect(grey)


def detector_name(detector: FaceDetector[Any]) -> str:
    """The name a detector is registered under (`haar`, `blazeface`), as results and the preview show it."""
    return type(detector).registered_name or type(detector).__name__
