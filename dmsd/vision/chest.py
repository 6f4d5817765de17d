"""Where the chest is relative to a face: the region the seatbelt model judges.

The chest-region rule lives here alone: the daemon and the seatbelt training code (train/seatbelt_data.py) both
import `chest_region`, so the model is trained on exactly the crop it sees at run time. Its proportions are
`ChestConfig` (the `chest` keys of the configuration).
"""

from __future__ import annotations

import numpy as np

from dmsd.config import ChestConfig
from dmsd.vision.geometry import Box

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
