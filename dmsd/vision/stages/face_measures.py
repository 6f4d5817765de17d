"""Eyes, head and mouth: what the face mesh's points say, one stage each (dmsd.vision.face_measures does the sums).

All three need the mesh (`landmarks.enabled`) and a face it confirms; each is a few microseconds, counted in
`total` only.
"""

from __future__ import annotations

import numpy as np

from dmsd.config import Config
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

    def run(self, frame: FrameWork) -> Eyes:
        return eyes(self.points(frame))


class HeadStage(MeshStage):
    key = "head"

    def run(self, frame: FrameWork) -> HeadPose | None:
        return head_pose(self.points(frame), frame.width, frame.height)


class MouthStage(MeshStage):
    key = "mouth"

    def run(self, frame: FrameWork) -> Mouth:
        return mouth(self.points(frame))
