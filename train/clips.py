"""Real clips, frame by frame, as the daemon's video face tracker follows them: the trainers' clip sources (the eye
model's labelled eyes, the seatbelt model's labelled spans) cut their frames from here, so a trainer sees the face
the daemon would see on the same frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2

from dmsd.config import Config
from dmsd.vision.stages.base import FACE, FrameWork
from dmsd.vision.stages.face import FaceStage


def frame_rate(path: Path, default: float) -> float:
    """The clip's frame rate from its header, or `default` where it states none."""
    capture = cv2.VideoCapture(str(path))
    try:
        return capture.get(cv2.CAP_PROP_FPS) or default
    finally:
        capture.release()


def tracked_frames(path: Path, config: Config, until: int | None = None) -> Iterator[tuple[int, FrameWork]]:
    """Every frame of a clip, in order, through a fresh video face tracker (and its mesh), up to frame `until`:
    (index, the frame with its located face as `products["face"]`, timed on the clip's own clock)."""
    face_stage = FaceStage.from_config(config, video=True)
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 1.0
    index = 0
    try:
        while until is None or index <= until:
            ok, image = capture.read()
            if not ok:
                break
            grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            work = FrameWork(image, grey, ts=index / fps)
            work.products[FACE.key] = face_stage.run(work)  # every frame: the tracker follows the face
            yield index, work
            index += 1
    finally:
        capture.release()
