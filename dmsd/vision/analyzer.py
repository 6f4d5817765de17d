"""One frame in, one FrameResult out: grey conversion, face (with the face mesh: eyes, head, mouth), emotion,
chest region, seatbelt."""

from __future__ import annotations

import time

import cv2
import numpy as np

from dmsd.config import ChestConfig, Config
from dmsd.vision.classifier import Classifier
from dmsd.vision.detectors import make_detector
from dmsd.vision.face_measures import eyes, head_pose, mouth
from dmsd.vision.face_mesh import FaceMesh
from dmsd.vision.face_stage import FaceStage, make_face_stage
from dmsd.vision.geometry import chest_region, neck_aligned
from dmsd.vision.landmarks import LandmarkModel
from dmsd.vision.results import EmotionResult, FrameResult, SeatbeltResult


class Analyzer:
    def __init__(
        self,
        faces: FaceStage,
        emotion: Classifier,
        seatbelt: Classifier,
        chest: ChestConfig,
        mesh: FaceMesh | None = None,
    ):
        """mesh: the face mesh over `faces` (None with landmarks off: no eyes, head or mouth)."""
        self.faces, self.emotion, self.seatbelt, self.chest, self.mesh = faces, emotion, seatbelt, chest, mesh

    @classmethod
    def from_config(cls, config: Config, video: bool = True) -> Analyzer:
        """video: frames follow one another (track the face); False for unrelated still images."""
        cv2.setNumThreads(config.detector.threads)
        models = config.models
        threads = (models.intra_op_threads, models.inter_op_threads)
        faces = make_face_stage(make_detector(config.detector), config.detector, video)
        mesh = None
        if config.landmarks.enabled:
            model = LandmarkModel(config.landmarks.resolve(models), models.intra_op_threads)
            mesh = FaceMesh(model, faces, config.landmarks, video)
        return cls(
            faces,
            Classifier(models.resolve("emotion"), "emotion", *threads),
            Classifier(models.resolve("seatbelt"), "seatbelt", *threads),
            config.chest,
            mesh,
        )

    def analyze(self, image: np.ndarray, source: str, ts: float) -> FrameResult:
        """image: BGR or grey. Colour is converted once, and only the way a model needs it."""
        t0 = time.perf_counter()
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape
        convert_ms = (time.perf_counter() - t0) * 1000
        if self.mesh is None:
            face, landmarks = self.faces.find(grey), None
            latency = {"detect": (time.perf_counter() - t0) * 1000}
        else:
            found = self.mesh.find(image, grey)
            face, landmarks = found.box, found.landmarks
            latency = {"detect": convert_ms + found.detect_ms, "landmarks": found.landmarks_ms}
        t1 = time.perf_counter()
        if face is None:
            latency["total"] = (t1 - t0) * 1000
            return FrameResult(source, ts, None, None, None, latency)

        probs = self.emotion.predict(image, grey, face)
        label = max(probs, key=probs.get)
        emotion = EmotionResult(label, probs[label], probs)
        t2 = time.perf_counter()

        seatbelt = None
        anchor = face
        if landmarks is not None and self.chest.from_landmarks:
            anchor = neck_aligned(face, landmarks.points)  # a turned head moves the chest less than the face box
        region = chest_region(anchor, width, height, self.chest)
        if region is not None:
            p_worn = self.seatbelt.predict(image, grey, region)["worn"]
            seatbelt = SeatbeltResult(p_worn >= 0.5, max(p_worn, 1.0 - p_worn))
        t3 = time.perf_counter()
        latency.update(emotion=(t2 - t1) * 1000, seatbelt=(t3 - t2) * 1000, total=(t3 - t0) * 1000)
        if landmarks is None:
            return FrameResult(source, ts, face, emotion, seatbelt, latency)
        return FrameResult(
            source,
            ts,
            face,
            emotion,
            seatbelt,
            latency,
            eyes(landmarks.points),
            head_pose(landmarks.points, width, height),
            mouth(landmarks.points),
        )
