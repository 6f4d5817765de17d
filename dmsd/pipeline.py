"""One frame in, one FrameResult out: grey conversion, face, driver pick, emotion, chest region, seatbelt."""

from __future__ import annotations

import time

import cv2
import numpy as np

from dmsd.config import Config
from dmsd.detection import FaceDetector, make_detector, pick_driver
from dmsd.geometry import ChestGeometry, chest_region
from dmsd.models import Classifier
from dmsd.results import EmotionResult, FrameResult, SeatbeltResult


class Analyzer:
    def __init__(self, detector: FaceDetector, emotion: Classifier, seatbelt: Classifier,
                 chest: ChestGeometry, seat_side: str = "any"):
        self.detector, self.emotion, self.seatbelt = detector, emotion, seatbelt
        self.chest, self.seat_side = chest, seat_side

    @classmethod
    def from_config(cls, config: Config) -> "Analyzer":
        models = config.models
        threads = (models.intra_op_threads, models.inter_op_threads)
        return cls(make_detector(config.detector),
                   Classifier(models.resolve("emotion"), "emotion", *threads),
                   Classifier(models.resolve("seatbelt"), "seatbelt", *threads),
                   config.chest.geometry(), config.detector.seat_side)

    def analyze(self, bgr: np.ndarray, source: str, ts: float) -> FrameResult:
        t0 = time.perf_counter()
        grey = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        if bgr.ndim == 2:
            bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        height, width = grey.shape
        faces = [b for b in (f.clipped(width, height) for f in self.detector.detect(grey)) if b]
        face = pick_driver(faces, width, self.seat_side)
        t1 = time.perf_counter()
        latency = {"detect": (t1 - t0) * 1000}
        if face is None:
            latency["total"] = latency["detect"]
            return FrameResult(source, ts, None, None, None, latency)

        probs = self.emotion.predict(bgr, grey, face)
        label = max(probs, key=probs.get)
        emotion = EmotionResult(label, probs[label], probs)
        t2 = time.perf_counter()

        seatbelt = None
        region = chest_region(face, width, height, self.chest)
        if region is not None:
            p_worn = self.seatbelt.predict(bgr, grey, region)["worn"]
            seatbelt = SeatbeltResult(p_worn >= 0.5, max(p_worn, 1.0 - p_worn))
        t3 = time.perf_counter()
        latency.update(emotion=(t2 - t1) * 1000, seatbelt=(t3 - t2) * 1000, total=(t3 - t0) * 1000)
        return FrameResult(source, ts, face, emotion, seatbelt, latency)
