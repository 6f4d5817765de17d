"""The face stage of a video: find the driver's face in each frame, cheaply and without a slow frame.

Searching the whole frame is what a frame costs (the CNNs are a fraction of a millisecond). So the driver's
face, once found, is searched for only around where it was, at sizes close to its own. While no face is tracked
(or, with `seat_side`, only one outside that seat), the full search runs spread over `scan_slices` frames, a band
of face sizes a frame, so no single frame pays for a whole search. The driver is picked by the same `pick_driver`
rule as a full search, and then kept while their face is seen, so a passenger or a face-like patch does not take
over.

The first detector (`detector.type`, Haar by default) is backed by a second (`detector.fallback`, BlazeFace), run
only where the first finds nothing: around the lost face, then on the whole frame, so a face tilted back, dropped or
turned is acquired and re-acquired; while the first detector (or the face mesh) keeps the face, the second costs
nothing. Each find says which detector found it (`found_by`).

    FaceFinder.find(grey) -> Box | None       # SearchEveryFrame (stills, --once) or DriverTracker (video)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import cv2
import numpy as np

from dmsd.config import DetectorConfig, ModelsConfig
from dmsd.vision.detectors.base import FaceDetector, Scan, detector_name
from dmsd.vision.geometry import Box, iou
from dmsd.vision.seat import on_side, pick_driver

# Sizes searched around a tracked face, as multiples of its width: a head moves towards or away from the camera
# by far less than this between frames.
TRACK_SIZES = (0.6, 1.5)
WIDE_SIZES = (0.6, 1.7)


class FaceFinder(ABC):
    found_by: str | None = None  # the detector that found the last face (`haar`, `blazeface`); None: no face

    @abstractmethod
    def find(self, grey: np.ndarray) -> Box | None:
        """The driver's face in this frame, or None."""

    def candidates(self, grey: np.ndarray) -> list[Box]:
        """Faces that could be the driver's, the seat rule's choice first; by default only that choice."""
        face = self.find(grey)
        return [face] if face is not None else []

    def follow(self, face: Box) -> None:  # noqa: B027 (only a tracker has anything to update)
        """The driver's face in this frame as found by other means (the face mesh): track from here."""

    fallback: FaceDetector[Any] | None = None
    seat_side: str = "any"

    @property
    def fallback_name(self) -> str | None:
        return detector_name(self.fallback) if self.fallback is not None else None

    def second_opinion(self, grey: np.ndarray) -> list[Box]:
        """The fallback detector's faces in the whole frame, the seat rule's choice first: asked when the first
        detector's faces are not faces to the face mesh. [] without a fallback."""
        if self.fallback is None:
            return []
        return ranked(self.fallback.detect(grey), grey.shape, self.seat_side)


class SearchEveryFrame(FaceFinder):
    """A full search of every frame: for still images, where there is nothing to track.

    Where the detector finds no face, more searches run, in order, until one finds a face: copies of the image
    squeezed to other widths (stills only, `detector.still_aspects`: stock and exported photos are often
    stretched), the detector's variant for turned heads both ways round (stills only, `detector.still_profile`),
    and the fallback detector (`detector.fallback`). What each adds: README.md, "Configuration".
    """

    def __init__(
        self,
        detector: FaceDetector[Any],
        seat_side: str = "any",
        aspects: tuple[float, ...] = (),
        profile: FaceDetector[Any] | None = None,
        fallback: FaceDetector[Any] | None = None,
    ):
        self.detector, self.seat_side, self.aspects, self.profile = detector, seat_side, tuple(aspects), profile
        self.fallback = fallback

    def find(self, grey: np.ndarray) -> Box | None:
        found = self.candidates(grey)
        return found[0] if found else None

    def candidates(self, grey: np.ndarray) -> list[Box]:
        height, width = grey.shape
        faces, self.found_by = self.detector.detect(grey), detector_name(self.detector)
        for aspect in self.aspects if not faces else ():
            squeezed = cv2.resize(grey, (max(1, round(width * aspect)), height), interpolation=cv2.INTER_AREA)
            faces = [Box(round(f.x / aspect), f.y, round(f.w / aspect), f.h) for f in self.detector.detect(squeezed)]
            if faces:
                break
        if not faces and self.profile is not None:
            faces = both_ways(self.profile, grey)
        if not faces and self.fallback is not None:
            faces, self.found_by = self.fallback.detect(grey), detector_name(self.fallback)
        order = ranked(faces, grey.shape, self.seat_side)
        if not order:
            self.found_by = None
        return order


def ranked(faces: list[Box], shape: tuple[int, ...], seat_side: str) -> list[Box]:
    """The faces clipped to a frame of `shape` (those left outside it dropped), in the seat rule's order: its pick,
    then its pick among the rest."""
    height, width = shape[:2]
    faces, order = [b for b in (f.clipped(width, height) for f in faces) if b], []
    while faces:
        pick = pick_driver(faces, width, seat_side)
        assert pick is not None  # faces is not empty
        order.append(pick)
        faces.remove(pick)
    return order


def both_ways(detector: FaceDetector[Any], grey: np.ndarray) -> list[Box]:
    """Faces in the image and in its mirror image (mapped back): the profile cascade knows one side only."""
    width = grey.shape[1]
    mirrored = detector.detect(cv2.flip(grey, 1))
    return detector.detect(grey) + [Box(width - f.x - f.w, f.y, f.w, f.h) for f in mirrored]


class DriverTracker(FaceFinder):
    def __init__(self, detector: FaceDetector[Any], config: DetectorConfig, fallback: FaceDetector[Any] | None = None):
        self.detector, self.config, self.fallback = detector, config, fallback
        self.seat_side = config.seat_side
        self.reset()

    def reset(self) -> None:
        self.scan: Scan[Any] | None = None
        self.scanning = False  # whether the scan ran on the previous frame (else it starts a fresh cycle)
        self.track: Box | None = None
        self.misses = 0
        self.frame_shape: tuple[int, ...] | None = None

    def find(self, grey: np.ndarray) -> Box | None:
        cold = grey.shape != self.frame_shape
        if cold:
            self.reset()
            self.frame_shape = grey.shape
        height, width = grey.shape
        side = self.config.seat_side
        prepared = self.detector.prepare(grey)  # e.g. Haar's scaled, equalised frame, shared by both searches

        self.found_by = detector_name(self.detector)
        tracked = self.search_near(grey, self.track, prepared) if self.track is not None else None
        if tracked is None and self.track is not None and self.fallback is not None:
            # The first detector lost a face that was just here (a head tilted back or dropped, a turn): the
            # fallback looks around it before the face is given up.
            tracked = self.near_by(self.fallback, grey, self.track, None)
            self.found_by = detector_name(self.fallback) if tracked is not None else self.found_by
        if tracked is not None and on_side(tracked, width, side):
            # The driver stays the driver while their face is seen: a passenger leaning in, or a face-like
            # patch elsewhere, does not take over, and no other search is needed.
            driver = tracked
            self.scanning = False
        elif tracked is None and self.track is not None:
            # Missed, but most likely still there (a blink of the detector, a head turn): the near and wide
            # searches were this frame's work; the scan takes over once the hold runs out. A frame never pays
            # for both, which keeps the slowest frames close to the typical one.
            driver = None
        else:
            if cold:
                # The first frame is searched whole, once: a face in view from the start is found at once.
                found = self.detector.detect(grey)
            else:
                if self.scan is None or not self.scanning:
                    self.scan = self.detector.scan(self.config.scan_slices)  # a fresh cycle, largest faces first
                found = self.scan.step(grey, prepared, known=tracked)
            self.scanning = not cold
            if not found and tracked is None and self.fallback is not None:
                # Nothing tracked and the first detector's search found nothing this frame: the fallback searches
                # the whole frame (cheap: BlazeFace is one small model call) to acquire the driver.
                found = self.fallback.detect(grey)
                self.found_by = detector_name(self.fallback) if found else self.found_by
            others = [f for f in found if tracked is None or iou(f, tracked) < 0.3]
            driver = pick_driver(others + ([tracked] if tracked else []), width, side)
            if tracked is not None and driver is not None and not on_side(driver, width, side):
                driver = tracked  # nobody in the configured seat: keep whom we had

        driver = driver.clipped(width, height) if driver is not None else None
        if driver is None:
            self.found_by = None
        if driver is not None:
            self.track, self.misses = driver, 0
        elif self.track is not None:
            self.misses += 1
            if self.misses >= self.config.track_hold_frames:
                self.track = None  # gone: only the scan looks for a face now
                self.scanning = False
        return driver

    def follow(self, face: Box) -> None:
        if self.frame_shape is not None:
            self.track, self.misses, self.scanning = face, 0, False

    def search_near(self, grey: np.ndarray, track: Box, prepared: object) -> Box | None:
        return self.near_by(self.detector, grey, track, prepared)

    def near_by(self, detector: FaceDetector[Any], grey: np.ndarray, track: Box, prepared: object) -> Box | None:
        near = detector.detect_near(grey, track, self.config.track_margin, TRACK_SIZES, prepared)
        if not near:
            # A quick head turn or a bump: look once more, twice as wide and at more sizes.
            near = detector.detect_near(grey, track, 2 * self.config.track_margin, WIDE_SIZES, prepared)
        return max(near, key=lambda f: iou(f, track) + f.area / 1e9, default=None)


def make_face_finder(
    detector: FaceDetector[Any], config: DetectorConfig, video: bool, models: ModelsConfig | None = None
) -> FaceFinder:
    """models: where the fallback detector's model files are (None: the default models.dir)."""
    fallback = fallback_detector(config, models)
    if video and config.tracking:
        return DriverTracker(detector, config, fallback)
    if video:  # a full search of every frame: the still-image extras would slow a faceless frame
        return SearchEveryFrame(detector, config.seat_side, fallback=fallback)
    profile = detector.turned() if config.still_profile else None
    return SearchEveryFrame(detector, config.seat_side, tuple(config.still_aspects), profile, fallback)


def fallback_detector(config: DetectorConfig, models: ModelsConfig | None = None) -> FaceDetector[Any] | None:
    """The second detector (`detector.fallback`), None when it is `none` or the same plugin as the first."""
    if config.fallback in ("none", config.type):
        return None
    from dmsd.vision.detectors import make_detector  # the plugins import this module

    return make_detector(config, models, fallback=True)
