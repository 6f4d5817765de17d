"""Face detection on real frames: hit rate on the bundled clip, box mapping, and which face is the driver."""

import cv2
import numpy as np
import pytest

from dmsd.config import ChestConfig, DetectorConfig
from dmsd.errors import DmsdError
from dmsd.vision.chest import chest_region
from dmsd.vision.detectors.haar import HaarFaceDetector, resolve_cascade
from dmsd.vision.geometry import Box
from dmsd.vision.seat import pick_driver
from harness import SAMPLES


def test_face_found_in_at_least_90_percent_of_the_clip(clip_frames):
    detector = HaarFaceDetector(DetectorConfig())
    hits = sum(bool(detector.detect(frame)) for frame in clip_frames)
    assert len(clip_frames) == 150
    assert hits / len(clip_frames) >= 0.9  # the `fer` package's pipeline finds 122 of 150 (81%)


def test_downscaled_detection_maps_the_box_back(clip_frames):
    """A box found on a 160-px-wide copy lands where a full-size search puts it."""
    frame = clip_frames[60]
    full = HaarFaceDetector(DetectorConfig(detect_width=4096)).detect(frame)
    small = HaarFaceDetector(DetectorConfig(detect_width=160)).detect(frame)
    assert len(full) == 1 and len(small) == 1
    a, b = full[0], small[0]
    assert abs(a.center_x - b.center_x) < 0.15 * a.w and abs(a.y - b.y) < 0.2 * a.h
    assert 0.75 < b.w / a.w < 1.33


def test_two_faces_the_driver_is_the_largest_or_on_the_seat_side():
    driver = cv2.imread(str(SAMPLES / "cabin_frame060.jpg"), cv2.IMREAD_GRAYSCALE)
    other = cv2.resize(cv2.imread(str(SAMPLES / "cabin_frame110.jpg"), cv2.IMREAD_GRAYSCALE), None, fx=0.8, fy=0.8)
    right = np.zeros_like(driver)
    right[: other.shape[0], : other.shape[1]] = other  # a second, smaller face on the right
    canvas = np.hstack([driver, right])
    faces = HaarFaceDetector(DetectorConfig(detect_width=900, min_face=0.1)).detect(canvas)
    assert len(faces) == 2
    assert pick_driver(faces, 900).x < 450
    assert pick_driver(faces, 900, "right").x > 450
    assert pick_driver(faces, 900, "left").x < 450


def test_no_face_in_an_empty_cabin():
    grey = cv2.imread(str(SAMPLES / "cabin_noface.jpg"), cv2.IMREAD_GRAYSCALE)
    assert HaarFaceDetector(DetectorConfig()).detect(grey) == []


def test_chest_region_is_below_the_face_and_clipped():
    face = Box(180, 80, 90, 90)
    region = chest_region(face, 450, 336, ChestConfig())
    assert region.y >= face.y + face.h and abs(region.center_x - face.center_x) <= 1
    assert region.y + region.h <= 336
    # a face at the bottom of the frame leaves no chest in view: unknown, not guessed
    assert chest_region(Box(180, 300, 30, 30), 450, 336, ChestConfig()) is None


def test_unknown_cascade_is_named():
    with pytest.raises(DmsdError, match="detector.haar.cascade: nope.xml is neither a file nor a cascade shipped"):
        resolve_cascade("nope.xml")
