"""Boxes, their overlap, and where the chest is relative to a face.

The chest-region rule lives here alone: the daemon and the seatbelt training code (train/seatbelt_data.py)
both import `chest_region`, so the model is trained on exactly the crop it sees at run time. Its proportions are
`ChestConfig` (the `chest` keys of the configuration), defined once in dmsd.config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmsd.config import ChestConfig


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def center_x(self) -> float:
        return self.x + self.w / 2

    def scaled(self, factor: float) -> Box:
        return Box(round(self.x * factor), round(self.y * factor), round(self.w * factor), round(self.h * factor))

    def grown(self, margin: float) -> Box:
        """The box with `margin` times its width and height added on every side."""
        dx, dy = round(self.w * margin), round(self.h * margin)
        return Box(self.x - dx, self.y - dy, self.w + 2 * dx, self.h + 2 * dy)

    def clipped(self, width: int, height: int) -> Box | None:
        """The part of the box inside a width x height image, or None if nothing is left."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + self.w, width), min(self.y + self.h, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return Box(x0, y0, x1 - x0, y1 - y0)

    def intersection_area(self, other: Box) -> int:
        """Pixels the two boxes share."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        return max(0, x1 - x0) * max(0, y1 - y0)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def iou(a: Box, b: Box) -> float:
    """Intersection over union: 1 for the same box, 0 for boxes that do not touch."""
    inter = a.intersection_area(b)
    return inter / (a.area + b.area - inter) if inter else 0.0


# Face-mesh points: the cheeks' outer edges, beside the ears (their midpoint stays on the axis the head turns
# about, where the neck is), and the chin.
CHEEK_EDGES = (234, 454)
CHIN = 152


def neck_aligned(face: Box, points: np.ndarray) -> Box:
    """`face` moved over the neck: centred on the head's turning axis and ending at the chin.

    A head turned to the side carries the face box with it (the nose and chin swing out by a third of the face's
    width at 30 degrees of yaw), but not the chest. The midpoint of the two cheek edges, near the ears, stays on
    the axis the head turns about whatever the yaw, so the head pose needs no separate correction; the chin says
    where the jaw line ends when the head tips down or up.
    """
    left, right = points[CHEEK_EDGES[0], :2], points[CHEEK_EDGES[1], :2]
    axis_x = (left[0] + right[0]) / 2
    chin_y = points[CHIN, 1]
    return Box(round(axis_x - face.w / 2), round(chin_y - face.h), face.w, face.h)


def chest_region(face: Box, frame_width: int, frame_height: int, chest: ChestConfig) -> Box | None:
    """The chest region below `face`, clipped to the frame; None when too little of it is in view."""
    w = round(face.w * chest.width)
    h = round(face.h * chest.height)
    wanted = Box(round(face.center_x - w / 2), face.y + face.h + round(face.h * chest.top), w, h)
    visible = wanted.clipped(frame_width, frame_height)
    if visible is None or visible.area < chest.min_visible * wanted.area:
        return None
    return visible
