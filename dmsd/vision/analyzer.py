"""One frame in, one FrameResult out: grey conversion, face, driver pick, emotion, chest region, seatbelt."""

from __future__ import annotations

import time

import cv2
import numpy as np

from dmsd.config import ChestConfig, Config
from dmsd.vision.classifier import Classifier
from dmsd.vision.detectors import make_detector
from dmsd.vision.face_stage import FaceStage, make_face_stage
from dmsd.vision.geometry import chest_region
from dmsd.vision.results import EmotionResult, FrameResult, SeatbeltResult


class Analyzer:
    def __init__(self, faces: FaceStage, emotion: Classifier, seatbelt: Classifier, chest: ChestConfig):
        self.faces, self.emotion, self.seatbelt, self.chest = faces, emotion, seatbelt, chest

    @classmethod
    def from_config(cls, config: Config, video: bool = True) -> "Analyzer":
        """video: frames follow one another (track the face); False for unrelated still images."""
        cv2.setNumThreads(config.detector.threads)
        models = config.models
        threads = (models.intra_op_threads, models.inter_op_threads)
        return cls(make_face_stage(make_detector(config.detector), config.detector, video),
                   Classifier(models.resolve("emotion"), "emotion", *threads),
                   Classifier(models.resolve("seatbelt"), "seatbelt", *threads),
                   config.chest)

    def analyze(self, image: np.ndarray, source: str, ts: float) -> FrameResult:
        """image: BGR or grey. Colour is converted once, and only the way a model needs it."""
        t0 = time.perf_counter()
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape
        face = self.faces.find(grey)
        t1 = time.perf_counter()
        latency = {"detect": (t1 - t0) * 1000}
        if face is None:
            latency["total"] = latency["detect"]
            return FrameResult(source, ts, None, None, None, latency)

        probs = self.emotion.predict(image, grey, face)
        label = max(probs, key=probs.get)
        emotion = EmotionResult(label, probs[label], probs)
        t2 = time.perf_counter()

        seatbelt = None
        region = chest_region(face, width, height, self.chest)
        if region is not None:
            p_worn = self.seatbelt.predict(image, grey, region)["worn"]
            seatbelt = SeatbeltResult(p_worn >= 0.5, max(p_worn, 1.0 - p_worn))
        t3 = time.perf_counter()
        latency.update(emotion=(t2 - t1) * 1000, seatbelt=(t3 - t2) * 1000, total=(t3 - t0) * 1000)
        return FrameResult(source, ts, face, emotion, seatbelt, latency)
