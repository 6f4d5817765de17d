"""The video face stage on real frames: as many faces as a full search on the clip, a face that moves, one that
leaves and comes back, and a second face that appears. Scenes are built from real faces cut from the bundled
stills and pasted on the bundled empty-cabin photo."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from dmsd.config import DetectorConfig
from dmsd.vision.detectors import make_detector
from dmsd.vision.detectors.haar import HaarFaceDetector
from dmsd.vision.face_finder import DriverTracker, SearchEveryFrame
from dmsd.vision.geometry import Box, iou
from harness import SAMPLES

WIDTH, HEIGHT = 640, 480


@pytest.fixture(scope="module")
def face_patches():
    """Two real faces with some surroundings, from two stills of the clip's driver, at two sizes."""
    patches = []
    for name, size in (("cabin_frame060.jpg", 150), ("cabin_frame010.jpg", 110)):
        grey = cv2.imread(str(SAMPLES / name), cv2.IMREAD_GRAYSCALE)
        face = HaarFaceDetector(DetectorConfig(detect_width=4096)).detect(grey)[0]
        region = face.grown(0.35).clipped(grey.shape[1], grey.shape[0])
        patch = grey[region.y : region.y + region.h, region.x : region.x + region.w]
        patches.append(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))
    return patches


@pytest.fixture(scope="module")
def background():
    grey = cv2.imread(str(SAMPLES / "cabin_noface.jpg"), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(grey, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def scene(background, *placed):
    """The background with each (patch, x, y) pasted; returns the frame and the face-sized truth boxes."""
    frame = background.copy()
    truths = []
    for patch, x, y in placed:
        side = patch.shape[0]
        frame[y : y + side, x : x + side] = patch
        inner = round(side / 1.7)  # the face is the patch less its 0.35 margins
        truths.append(Box(x + (side - inner) // 2, y + (side - inner) // 2, inner, inner))
    return frame, truths


def tracker(**overrides) -> DriverTracker:
    config = DetectorConfig(**overrides)
    return DriverTracker(HaarFaceDetector(config), config)


def test_tracking_finds_at_least_as_many_faces_as_a_full_search_on_the_clip(clip_frames):
    full = SearchEveryFrame(HaarFaceDetector(DetectorConfig()))
    full_boxes = [full.find(frame) for frame in clip_frames]
    stage = tracker()
    tracked = [stage.find(frame) for frame in clip_frames]
    assert sum(b is not None for b in tracked) >= sum(b is not None for b in full_boxes)
    both = [(a, b) for a, b in zip(full_boxes, tracked, strict=True) if a is not None and b is not None]
    agree = sum(iou(a, b) > 0.5 for a, b in both)
    # The full search sometimes takes a larger face-like patch on the seat behind for the driver; tracking
    # stays on the face, so agreement is high but not total.
    assert agree >= 0.9 * len(both)


def test_a_moving_face_is_followed(background, face_patches):
    stage = tracker()
    patch = face_patches[0]
    for step in range(40):
        x, y = 40 + step * 11, 60 + round(50 * np.sin(step / 6))  # across the frame, bobbing
        frame, (truth,) = scene(background, (patch, x, y))
        found = stage.find(frame)
        assert found is not None, f"lost the face at step {step}"
        assert iou(found, truth) > 0.4, f"step {step}: {found} is not on {truth}"


def test_a_face_that_leaves_is_not_reported_and_is_found_again_elsewhere(background, face_patches):
    config = DetectorConfig()
    stage = tracker()
    patch = face_patches[0]
    for _ in range(5):
        frame, _ = scene(background, (patch, 100, 100))
        assert stage.find(frame) is not None
    for step in range(15):  # gone: no ghost of the last box, not even during the hold frames
        assert stage.find(background) is None, f"a face reported {step} frames after it left"
    frame, (truth,) = scene(background, (patch, 420, 250))
    found_after = None
    for step in range(config.scan_slices + 1):  # one full cycle of the scan at most
        found = stage.find(frame)
        if found is not None:
            found_after = step
            assert iou(found, truth) > 0.4
            break
    assert found_after is not None, "the face that came back was not found within one scan cycle"


def test_a_second_face_that_appears_does_not_take_over_the_driver(background, face_patches):
    driver, passenger = face_patches[1], face_patches[0]  # the passenger's face is the larger one
    stage = tracker()
    for _ in range(3):
        frame, (truth,) = scene(background, (driver, 60, 120))
        assert iou(stage.find(frame), truth) > 0.4
    for step in range(20):
        frame, (truth, other) = scene(background, (driver, 60, 120), (passenger, 420, 80))
        found = stage.find(frame)
        assert found is not None and iou(found, truth) > 0.4, f"step {step}: {found}, driver at {truth}"
    # A full search alone would pick the larger face: the tracker's stickiness is what keeps the driver.
    assert SearchEveryFrame(HaarFaceDetector(DetectorConfig())).find(frame).w > truth.w


def test_a_face_in_the_configured_seat_replaces_one_outside_it(background, face_patches):
    stage = tracker(seat_side="right")
    for _ in range(3):
        frame, (left,) = scene(background, (face_patches[0], 40, 100))
        assert iou(stage.find(frame), left) > 0.4  # nobody on the right: the only face
    found = None
    for _ in range(DetectorConfig().scan_slices + 1):
        frame, (left, right) = scene(background, (face_patches[0], 40, 100), (face_patches[1], 450, 150))
        found = stage.find(frame)
        if iou(found, right) > 0.4:
            break
    assert iou(found, right) > 0.4, "the face in the driver's seat was not taken within one scan cycle"


def test_one_scan_cycle_finds_what_one_full_search_finds(clip_frames):
    """The bands cover every pyramid level once: pooled over a cycle on one frame, the same faces."""
    config = DetectorConfig()
    detector = HaarFaceDetector(config)
    for frame in clip_frames[::30]:
        scan = detector.scan(config.scan_slices)
        found = []
        for _ in range(config.scan_slices):
            found += scan.step(frame)
        expected = detector.detect(frame)
        assert len(scan.bands) <= config.scan_slices
        for face in expected:
            assert any(iou(face, f) > 0.8 for f in found), f"{face} not found by the scan: {found}"


def test_a_new_frame_size_starts_over(clip_frames):
    stage = tracker()
    assert stage.find(clip_frames[0]) is not None
    small = cv2.resize(clip_frames[0], (300, 224))
    found = stage.find(small)  # a track in the old frame's pixels would point off the new frame
    assert found is not None and found.x + found.w <= 300 and found.y + found.h <= 224


@pytest.mark.parametrize("scale", [1.13, 1.5, 1.7])
def test_a_small_face_in_a_wide_angle_frame_is_found_on_stills_and_video(clip_frames, scale):
    """The clip's real frames, scaled so the face is 99-150 px wide, in a 1920x1080 frame (a wide-angle cabin): the
    search scales the frame to the smallest face it looks for (10% of the height), not to a fixed 320 px, at which
    a 130 px face is 22 px, under the cascade's 24 px window."""

    def wide(grey):
        big = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((1080, 1920), np.uint8)
        canvas[300 : 300 + big.shape[0], 700 : 700 + big.shape[1]] = big
        return canvas

    frames = [wide(grey) for grey in clip_frames[:40:4]]
    still = SearchEveryFrame(HaarFaceDetector(DetectorConfig())).find(frames[0])
    assert still is not None and 90 <= still.w <= 170 and 900 <= still.center_x <= 1200
    config = DetectorConfig()
    stage = DriverTracker(HaarFaceDetector(config), config, make_detector(replace(config, type="blazeface")))
    found = [stage.find(frame) for frame in frames]
    assert all(box is not None and iou(box, still) > 0.3 for box in found), found
    at_320 = HaarFaceDetector(DetectorConfig()).prepare(frames[0])[0].shape
    assert at_320 == (240, 427)  # not (180, 320): 24 px / (0.1 x 1080 px) sets the scale
