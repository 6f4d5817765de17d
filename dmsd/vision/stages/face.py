"""The face stage: the driver's face in each frame, and with the face mesh its 468 points.

It writes its own latency: `detect` (the grey conversion and the detector) and, with the mesh, `landmarks`.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from dmsd.config import Config
from dmsd.vision.detectors import make_detector
from dmsd.vision.face_mesh import FaceMesh
from dmsd.vision.face_stage import FaceStage, make_face_stage
from dmsd.vision.landmarks import LandmarkModel
from dmsd.vision.stages.base import FrameWork, LocatedFace, Stage


class FaceLocator(Stage):
    key = "face"
    needs = ()
    section = "detector"

    def __init__(self, faces: FaceStage, mesh: FaceMesh | None = None):
        """mesh: the face mesh over `faces` (None with landmarks off: no eyes, head or mouth)."""
        self.faces, self.mesh = faces, mesh

    @classmethod
    def from_config(cls, config: Config, video: bool) -> FaceLocator:
        cv2.setNumThreads(config.detector.threads)
        faces = make_face_stage(make_detector(config.detector), config.detector, video)
        mesh = None
        if config.landmarks.enabled:
            model = LandmarkModel(config.landmarks.resolve(config.models), config.models.intra_op_threads)
            mesh = FaceMesh(model, faces, config.landmarks, video)
        return cls(faces, mesh)

    def run(self, frame: FrameWork) -> LocatedFace:
        if self.mesh is None:
            started = time.perf_counter()
            box = self.faces.find(frame.grey)
            frame.latency["detect"] = frame.convert_ms + (time.perf_counter() - started) * 1000
            return LocatedFace(box)
        found = self.mesh.find(frame.image, frame.grey)
        frame.latency.update(detect=frame.convert_ms + found.detect_ms, landmarks=found.landmarks_ms)
        return LocatedFace(found.box, found.landmarks)

    def models(self) -> dict[str, Path]:
        return {"landmarks": self.mesh.model.path} if self.mesh is not None else {}
