"""One frame in, one FrameResult out: the grey conversion, then each registered stage in order
(dmsd.vision.stages: the face, then what is measured on it)."""

from __future__ import annotations

import time
from typing import TypeVar

import cv2
import numpy as np

from dmsd.config import Config
from dmsd.vision.results import FrameResult
from dmsd.vision.stages import FACE, STAGES, FrameWork, Stage

S = TypeVar("S", bound=Stage)


class Analyzer:
    def __init__(self, stages: list[Stage], result_keys: list[str] | None = None):
        """stages: in the order they run; result_keys: the measures the result names (None when unknown),
        by default every registered measure stage, also those the config turns off."""
        self.stages = stages
        self.result_keys = (
            result_keys if result_keys is not None else [s.product.key for s in STAGES if s.product is not FACE]
        )

    @classmethod
    def from_config(cls, config: Config, video: bool = True) -> Analyzer:
        """video: frames follow one another (track the face); False for unrelated still images."""
        stages = [stage for cls_ in STAGES if (stage := cls_.from_config(config, video)) is not None]
        return cls(stages)

    def stage(self, kind: type[S]) -> S | None:
        """The running stage of this class, or None when the config turned it off."""
        return next((s for s in self.stages if isinstance(s, kind)), None)

    def models(self) -> dict[str, str]:
        """The model files the stages run, by name."""
        return {name: str(path) for stage in self.stages for name, path in stage.models().items()}

    def analyze(self, image: np.ndarray, source: str, ts: float) -> FrameResult:
        """image: BGR or grey. Colour is converted once, and only the way a model needs it."""
        started = time.perf_counter()
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        frame = FrameWork(image, grey, convert_ms=(time.perf_counter() - started) * 1000, ts=ts)
        for stage in self.stages:
            if not all(frame.has(need) for need in stage.needs):
                continue
            stage_started = time.perf_counter()
            frame.products[stage.product.key] = stage.run(frame)
            if stage.latency_key is not None:
                frame.latency[stage.latency_key] = (time.perf_counter() - stage_started) * 1000
        frame.latency["total"] = (time.perf_counter() - started) * 1000
        measures = {key: frame.products.get(key) for key in self.result_keys}
        return FrameResult(source, ts, frame.face, measures, frame.latency, frame.track)
