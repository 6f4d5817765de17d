"""Eyes, head and mouth: what the face mesh's points say, one stage each (dmsd.vision.face_measures does the sums).

All three need the mesh (`landmarks.enabled`) and a face it confirms. Head and mouth are a few microseconds,
counted in `total` only. The eyes stage also runs the eye-state model (`eyes.model`, `models.eyes`) on both eyes
as one batch, each eye a patch the mesh places (dmsd.vision.eye_patches): its verdict is the face's `closed`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from dmsd.config import Config, EyesConfig
from dmsd.errors import DmsdError
from dmsd.vision.classifier import Classifier
from dmsd.vision.eye_patches import eye_patches, eye_widths
from dmsd.vision.face_measures import Eyes, HeadPose, Mouth, eyes, head_pose, mouth
from dmsd.vision.stages.base import FrameWork, Stage


class MeshStage(Stage):
    """A measure of the face mesh's points: off with the mesh."""

    needs = ("landmarks",)
    section = "landmarks"

    @classmethod
    def from_config(cls, config: Config, video: bool) -> MeshStage | None:
        return cls() if config.landmarks.enabled else None

    @staticmethod
    def points(frame: FrameWork) -> np.ndarray:
        assert frame.landmarks is not None  # needs: landmarks
        return frame.landmarks.points


class EyesStage(MeshStage):
    key = "eyes"
    section = "eyes"
    latency_key = "eyes"

    def __init__(self, model: Classifier | None = None, config: EyesConfig | None = None):
        """model: the eye-state model (None: the aspect ratio decides)."""
        self.model, self.config = model, config or EyesConfig()
        if model is not None and (model.input.colour != "grey" or model.input.width != model.input.height):
            raise DmsdError(f"{model.path}: an eye-state model must take square grey patches (dmsd.input)")

    @classmethod
    def from_config(cls, config: Config, video: bool) -> EyesStage | None:
        if not config.landmarks.enabled:
            return None
        if not config.eyes.model:
            return cls(None, config.eyes)
        models = config.models
        # A models.dir of one's own may predate the eye-state model: the error says the ways out.
        missing = f"copy models/eyes.{models.eyes.precision}.onnx there, set models.eyes.path, or eyes.model: false"
        model = Classifier(models.resolve("eyes"), "eyes", models.intra_op_threads, models.inter_op_threads, missing)
        return cls(model, config.eyes)

    def run(self, frame: FrameWork) -> Eyes:
        points = self.points(frame)
        ratios = eyes(points)
        if self.model is None:
            return ratios
        patches = eye_patches(frame.grey, points, self.model.input.width)
        p_closed = self.model.run(self.model.prepare_patches(patches))[:, self.model.labels.index("closed")]
        right, left = float(p_closed[0]), float(p_closed[1])
        closed = both_shut(right, left, eye_widths(points), self.config.closed_above)
        # The aspect ratio must agree that the eyes are narrow: a glasses rim can look like shut lids to the model.
        closed = closed and (ratios.left + ratios.right) / 2 < self.config.ratio_below
        return replace(ratios, closed=closed, p_closed_left=left, p_closed_right=right)

    def models(self) -> dict[str, Path]:
        return {"eyes": self.model.path} if self.model is not None else {}


FAR_EYE_WIDTH = 0.5  # an eye under this share of the other's apparent width is the far eye of a turned head


def both_shut(right: float, left: float, widths: tuple[float, float], closed_above: float) -> bool:
    """Whether the model says the eyes are shut: both at `closed_above` (a blink or a sleep closes both, while glare
    or a rim on one lens fools the model on that eye alone), save the far eye of a turned head, narrow and half
    hidden behind the nose, which is left out."""
    width_right, width_left = widths
    if width_right < FAR_EYE_WIDTH * width_left:
        return left >= closed_above
    if width_left < FAR_EYE_WIDTH * width_right:
        return right >= closed_above
    return min(right, left) >= closed_above


class HeadStage(MeshStage):
    key = "head"

    def run(self, frame: FrameWork) -> HeadPose | None:
        return head_pose(self.points(frame), frame.width, frame.height)


class MouthStage(MeshStage):
    key = "mouth"

    def run(self, frame: FrameWork) -> Mouth:
        return mouth(self.points(frame))
