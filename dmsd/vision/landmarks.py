"""The facial landmark model: MediaPipe's 468-point face mesh on ONNX Runtime, run on a square crop around a face.

The model's metadata says what it takes and gives (README.md, "Swapping in your own model"): `dmsd.task`
"landmarks", `dmsd.input` (size, colour, layout, scale, offset, as for the classifiers) and `dmsd.landmarks`, JSON
naming the two outputs, `{"points": 468, "landmarks": NAME, "presence": NAME, "crop_margin": 0.25}`: x, y, z per
point in the input's pixels, and a face-presence logit. The crop is the face box grown by `crop_margin` of its size
on every side, squared on its centre; parts outside the frame are black, as MediaPipe pads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dmsd.errors import DmsdError
from dmsd.vision.classifier import InputSpec, open_session
from dmsd.vision.geometry import Box


@dataclass(frozen=True)
class Landmarks:
    """points: N x 3 (x, y in the frame's pixels; z in the same scale, smaller is nearer the camera);
    presence: the model's probability that the crop holds a face."""

    points: np.ndarray
    presence: float


def crop_transform(face: Box, side: int, margin: float) -> np.ndarray:
    """The 2 x 3 affine map from frame pixels to a side x side crop of `face` grown by `margin` on every side."""
    span = max(face.w, face.h) * (1 + 2 * margin)
    scale = side / span
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    return np.array([[scale, 0, side / 2 - cx * scale], [0, scale, side / 2 - cy * scale]], dtype=np.float32)


class LandmarkModel:
    def __init__(self, path: Path, intra_op_threads: int = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise DmsdError(
                f"{self.path}: no such landmarks model file (set landmarks.path, or landmarks.enabled: false)"
            )
        self.session = open_session(self.path, intra_op_threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("dmsd.task", "landmarks") != "landmarks":
            raise DmsdError(f"{self.path}: is a {meta['dmsd.task']!r} model, expected 'landmarks'")
        missing = [k for k in ("dmsd.task", "dmsd.input", "dmsd.landmarks") if k not in meta]
        if missing:
            raise DmsdError(
                f"{self.path}: lacks metadata {', '.join(missing)} (see models/README.md, 'Model contract')"
            )
        self.input = InputSpec.parse(meta["dmsd.input"], str(self.path))
        try:
            layout = json.loads(meta["dmsd.landmarks"])
            self.points = int(layout["points"])
            self.outputs = [str(layout["landmarks"]), str(layout["presence"])]
            self.margin = float(layout["crop_margin"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DmsdError(
                f"{self.path}: dmsd.landmarks must be JSON with points, landmarks, presence and crop_margin ({exc!r})"
            ) from None
        names = {o.name for o in self.session.get_outputs()}
        if not set(self.outputs) <= names:
            raise DmsdError(f"{self.path}: dmsd.landmarks names outputs {self.outputs}; the model has {sorted(names)}")
        self.input_name = self.session.get_inputs()[0].name
        self.precision = meta.get("dmsd.precision", "unknown")

    def preprocess(self, image: np.ndarray, face: Box) -> tuple[np.ndarray, np.ndarray]:
        """The model's input for `face` in `image` (BGR or grey), and the affine map from frame to crop pixels."""
        spec = self.input
        transform = crop_transform(face, spec.width, self.margin)
        crop = cv2.warpAffine(
            image, transform, (spec.width, spec.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        return spec.encode(crop), transform

    def run(self, tensor: np.ndarray) -> tuple[np.ndarray, float]:
        """Points in the crop's pixels (N x 3) and the presence logit, for one preprocessed input."""
        points, presence = self.session.run(self.outputs, {self.input_name: tensor})
        return points.reshape(self.points, 3), float(np.ravel(presence)[0])

    def predict(self, image: np.ndarray, face: Box) -> Landmarks:
        tensor, transform = self.preprocess(image, face)
        points, logit = self.run(tensor)
        scale = transform[0, 0]
        in_frame = points.copy()
        in_frame[:, 0] = (points[:, 0] - transform[0, 2]) / scale
        in_frame[:, 1] = (points[:, 1] - transform[1, 2]) / scale
        in_frame[:, 2] = points[:, 2] / scale
        return Landmarks(in_frame, float(1 / (1 + np.exp(-np.clip(logit, -50, 50)))))
