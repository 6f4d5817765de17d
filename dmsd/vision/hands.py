"""Hands in a frame, by MediaPipe's palm detector (models/palms.fp32.onnx, made by `python -m convert.palms`).

The model is BlazeFace's kind of SSD detector (dmsd.vision.detectors.blazeface.SsdModel runs and decodes it): a
192x192 RGB square in, for each of 2016 anchors a palm-score logit and 18 numbers out (the palm box's centre offset
and size, then 7 keypoints: the wrist centre, the knuckles at the base of the index, middle, ring and little fingers,
and two on the thumb, as MediaPipe orders them). The frame is letterboxed into the square (aspect kept, black bars,
as MediaPipe does); what decoding needs comes with the model (`dmsd.detector`).

A palm box covers the palm only. `Hand.hand_box` grows it to roughly the whole hand, fingers included, as
MediaPipe's palm-to-hand step does (palm_detection_detection_to_roi: the rect is turned so the wrist is below the
middle finger's knuckle, shifted half its height towards the fingers, scaled 2.6 times and made square on its long
side), but kept upright: the square of that side around the shifted centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmsd.vision.detectors.blazeface import Detection, SsdModel
from dmsd.vision.geometry import Box

# MediaPipe's palm -> hand rect (palm_detection_detection_to_roi.pbtxt: RectTransformationCalculator options).
HAND_SHIFT_Y = -0.5  # of the palm box's height, towards the fingers
HAND_SCALE = 2.6
WRIST, MIDDLE_KNUCKLE = 0, 2  # the keypoints the rotation is taken from (DetectionsToRectsCalculator)
MIN_SCORE = 0.5  # MediaPipe's palm detector's min_score_thresh


@dataclass(frozen=True)
class Hand:
    """One hand in frame pixels: `box` the palm, `score` the palm score (0-1), `hand_box` the palm box grown to
    roughly the whole hand (see the module), `keypoints` the palm's 7 (x, y) points and `rotation` (radians, 0 for
    fingers up, positive turning clockwise on screen) the angle MediaPipe turns the hand's rect by."""

    box: Box
    score: float
    hand_box: Box
    keypoints: np.ndarray
    rotation: float


class PalmDetector(SsdModel):
    """MediaPipe's palm detector on ONNX Runtime's CPU provider (`threads` threads). `key` names the file's config
    key in error messages."""

    def __init__(self, path: Path | str, threads: int = 1, min_score: float = MIN_SCORE, key: str = "palm model"):
        self.min_score = min_score
        super().__init__(Path(path), threads, "palms", key, "a palm detector", "python -m convert.palms")

    def find(self, image: np.ndarray) -> list[Hand]:
        """The hands in a frame (grey H x W, or BGR H x W x 3, uint8), best first."""
        tensor, square = self.letterbox(image)
        return [hand_of(d) for d in self.decode(*self.run(tensor), square)]


def hand_of(palm: Detection) -> Hand:
    """A palm detection (frame pixels) as a Hand, its hand box made as MediaPipe makes the hand's rect."""
    x0, y0, x1, y1 = (float(v) for v in palm.box)
    width, height = x1 - x0, y1 - y0
    wrist, knuckle = palm.keypoints[WRIST], palm.keypoints[MIDDLE_KNUCKLE]
    # MediaPipe: rotation = target angle (90 degrees) - atan2(-(y1 - y0), x1 - x0), from the wrist to the knuckle.
    angle = math.pi / 2 - math.atan2(-(float(knuckle[1]) - float(wrist[1])), float(knuckle[0]) - float(wrist[0]))
    rotation = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    # The shift is along the turned rect's own y axis (RectTransformationCalculator).
    cx = (x0 + x1) / 2 - HAND_SHIFT_Y * height * math.sin(rotation)
    cy = (y0 + y1) / 2 + HAND_SHIFT_Y * height * math.cos(rotation)
    side = HAND_SCALE * max(width, height)
    return Hand(
        box=Box(round(x0), round(y0), round(width), round(height)),
        score=palm.score,
        hand_box=Box(round(cx - side / 2), round(cy - side / 2), round(side), round(side)),
        keypoints=palm.keypoints,
        rotation=rotation,
    )
