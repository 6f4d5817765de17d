"""The seat rule: which of the faces in a frame is the driver's."""

from __future__ import annotations

from dmsd.vision.geometry import Box


def pick_driver(faces: list[Box], frame_width: int, seat_side: str = "any") -> Box | None:
    """The driver's face: the largest, or with `seat_side` the largest in that half of the image."""
    if seat_side != "any":
        faces = [f for f in faces if on_side(f, frame_width, seat_side)] or faces
    return max(faces, key=lambda f: f.area, default=None)


def on_side(face: Box, frame_width: int, seat_side: str) -> bool:
    """Whether the face's centre is in the `seat_side` half of the image (always, for "any")."""
    return seat_side == "any" or (face.center_x < frame_width / 2) == (seat_side == "left")
