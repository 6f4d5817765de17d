"""Eyes, head and mouth: what the face mesh's points say, one stage each (dmsd.vision.face_measures does the sums).

All need the mesh (`landmarks.enabled`) and a face it confirms. Head and mouth are a few microseconds, counted in
`total` only. The eyes stage also runs the eye-state model (`eyes.model`, `models.eyes`) on both eyes as one batch,
each eye a patch the mesh places (dmsd.vision.eye_patches), and measures how bright each eye is beside its cheek (a
dark lens hides it) and how much of it is glare. The blendshapes stage runs MediaPipe's blendshapes model on the
mesh. They measure; whether the eyes are closed is decided in dmsd.driver.eye_closure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from dmsd.config import Config
from dmsd.errors import DmsdError
from dmsd.vision.blendshapes import BlendshapeModel, FaceShapes
from dmsd.vision.classifier import Classifier
from dmsd.vision.eye_patches import cut_eyes, glare_share, lens_brightness, stretched
from dmsd.vision.face_measures import Eyes, HeadPose, Mouth, eyes, head_pose, mouth
from dmsd.vision.results import Product
from dmsd.vision.stages.base import FrameWork, P, Stage

EYES = Product("eyes", Eyes)
BLENDSHAPES = Product("blendshapes", FaceShapes)
HEAD = Product("head", HeadPose)
MOUTH = Product("mouth", Mouth)


class MeshStage(Stage[P]):
    """A measure of the face mesh's points: off with the mesh."""

    needs = ("landmarks",)

    @classmethod
    def from_config(cls, config: Config, video: bool) -> MeshStage[P] | None:
        return cls() if config.landmarks.enabled else None

    @staticmethod
    def points(frame: FrameWork) -> np.ndarray:
        assert frame.landmarks is not None  # needs: landmarks
        return frame.landmarks.points


class EyesStage(MeshStage[Eyes]):
    product = EYES
    latency_key = "eyes"

    def __init__(self, model: Classifier | None = None):
        """model: the eye-state model (None: without its closed probabilities)."""
        self.model = model
        if model is not None and (model.input.colour != "grey" or model.input.width != model.input.height):
            raise DmsdError(f"{model.path}: an eye-state model must take square grey patches (dmsd.input)")

    @classmethod
    def from_config(cls, config: Config, video: bool) -> EyesStage | None:
        if not config.landmarks.enabled:
            return None
        if not config.eyes.model:
            return cls(None)
        models = config.models
        # A models.dir of one's own may predate the eye-state model: the error says the ways out.
        missing = f"copy models/eyes.{models.eyes.precision}.onnx there, set models.eyes.path, or eyes.model: false"
        model = Classifier(models.resolve("eyes"), "eyes", models.intra_op_threads, models.inter_op_threads, missing)
        return cls(model)

    def run(self, frame: FrameWork) -> Eyes:
        points = self.points(frame)
        side = self.model.input.width if self.model is not None else LENS_SIDE
        raw = cut_eyes(frame.grey, points, side)
        lens_right, lens_left = lens_brightness(frame.grey, points, raw)
        glare_right, glare_left = glare_share(raw)
        p_right = p_left = None
        if self.model is not None:
            p_closed = self.model.run(self.model.prepare_patches(stretched(raw)))[:, self.model.labels.index("closed")]
            p_right, p_left = float(p_closed[0]), float(p_closed[1])
        return replace(
            eyes(points),
            p_closed_left=p_left,
            p_closed_right=p_right,
            lens_left=lens_left,
            lens_right=lens_right,
            glare_left=glare_left,
            glare_right=glare_right,
        )

    def models(self) -> dict[str, Path]:
        return {"eyes": self.model.path} if self.model is not None else {}


LENS_SIDE = 24  # the eye patch's side for the lens brightness alone (without the eye-state model)


class BlendshapesStage(MeshStage[FaceShapes]):
    """MediaPipe's blendshape scores of the face (dmsd.vision.blendshapes): off with the mesh or
    `blendshapes.enabled: false`."""

    product = BLENDSHAPES
    latency_key = "blendshapes"

    def __init__(self, model: BlendshapeModel):
        self.model = model

    @classmethod
    def from_config(cls, config: Config, video: bool) -> BlendshapesStage | None:
        if not (config.landmarks.enabled and config.blendshapes.enabled):
            return None
        path = config.blendshapes.resolve(config.models)
        return cls(BlendshapeModel(path, config.models.intra_op_threads))

    def run(self, frame: FrameWork) -> FaceShapes:
        return self.model.predict(self.points(frame))

    def models(self) -> dict[str, Path]:
        return {"blendshapes": self.model.path}


class HeadStage(MeshStage[HeadPose]):
    product = HEAD

    def run(self, frame: FrameWork) -> HeadPose | None:
        return head_pose(self.points(frame), frame.width, frame.height)


class MouthStage(MeshStage[Mouth]):
    product = MOUTH

    def run(self, frame: FrameWork) -> Mouth:
        return mouth(self.points(frame))
