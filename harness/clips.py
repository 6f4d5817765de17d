"""Frames of a real clip, for tests and measurement scripts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def grey_frames(path: Path | str, every: int = 1) -> list[np.ndarray]:
    """Every `every`th frame, grey, read from start to end (never seeking: OpenCV miscounts some of these clips)."""
    capture = cv2.VideoCapture(str(path))
    found, index = [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % every == 0:
            found.append(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        index += 1
    capture.release()
    return found
