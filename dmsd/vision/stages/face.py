"""The face stage: the driver's face in each frame, and with the face mesh its points.

It writes its own latency: `detect` (the grey conversion and the detectors) and, with the mesh, `landmarks`; and it
says how each face was found, or since when and why there is none (`FaceTrack`).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from dmsd.config import Config
from dmsd.vision.detectors import make_detector
from dmsd.vision.face_finder import FaceFinder, make_face_finder
from dmsd.vision.face_mesh import FaceMesh
from dmsd.vision.landmarks import LandmarkModel
from dmsd.vision.results import FaceTrack
from dmsd.vision.stages.base import FACE, FrameWork, LocatedFace, Stage

NOT_FOUND = "no detector found a face"
MESH_LOST = "the face mesh lost the face it followed, and no detector found it again"


class FaceStage(Stage[LocatedFace]):
    product = FACE
    needs = ()

    def __init__(self, faces: FaceFinder, mesh: FaceMesh | None = None, video: bool = True):
        """mesh: the face mesh over `faces` (None with landmarks off: no eyes, head or mouth); video: frames follow
        one another (a still's lost face has no since)."""
        self.faces, self.mesh, self.video = faces, mesh, video
        self.lost: FaceTrack | None = None  # since when and why there is no face, while there is none

    @classmethod
    def from_config(cls, config: Config, video: bool) -> FaceStage:
        cv2.setNumThreads(config.detector.threads)
        detector, models = config.detector, config.models
        faces = make_face_finder(make_detector(detector, models), detector, video, models)
        mesh = None
        if config.landmarks.enabled:
            model = LandmarkModel(config.landmarks.resolve(config.models), config.models.intra_op_threads)
            mesh = FaceMesh(model, faces, config.landmarks, video)
        return cls(faces, mesh, video)

    def run(self, frame: FrameWork) -> LocatedFace:
        if self.mesh is None:
            started = time.perf_counter()
            box = self.faces.find(frame.grey)
            frame.latency["detect"] = frame.convert_ms + (time.perf_counter() - started) * 1000
            return LocatedFace(box, None, self.track(frame.ts, box is not None, self.faces.found_by, False))
        found = self.mesh.find(frame.image, frame.grey)
        frame.latency.update(detect=frame.convert_ms + found.detect_ms, landmarks=found.landmarks_ms)
        track = self.track(frame.ts, found.box is not None, found.found_by, found.mesh_lost)
        return LocatedFace(found.box, found.landmarks, track)

    def track(self, ts: float, found: bool, found_by: str | None, mesh_lost: bool) -> FaceTrack:
        if found:
            self.lost = None
            return FaceTrack(found_by)
        if not self.video:
            return FaceTrack(None, None, NOT_FOUND)
        if self.lost is None:
            self.lost = FaceTrack(None, ts, MESH_LOST if mesh_lost else NOT_FOUND)
        return self.lost

    def models(self) -> dict[str, Path]:
        return {"landmarks": self.mesh.model.path} if self.mesh is not None else {}
