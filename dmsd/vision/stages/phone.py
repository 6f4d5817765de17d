"""The phone stage: the phone model on the whole frame (the camera frames the driver's head and upper body, so a
phone at the ear and one held low to type are both in it), a few times a second on video.

On video it runs whether or not this frame's face was found (a hand and a phone at the ear hide the face from the
detector), at most every `phone.interval_s` of frame time, and the last answer stands between runs. On a still,
with no face there is no driver to judge, and the answer is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dmsd.config import Config, PhoneConfig
from dmsd.vision.classifier import Classifier
from dmsd.vision.geometry import Box
from dmsd.vision.stages.base import FrameWork, Stage

NONE = "none"


@dataclass(frozen=True)
class PhoneResult:
    """use: call, texting or none; confidence: the model's probability of `use`."""

    use: str
    confidence: float
    probs: dict[str, float]

    @classmethod
    def from_probs(cls, probs: dict[str, float], min_confidence: float) -> PhoneResult:
        """The most likely use if it is a phone use at `min_confidence`; else none, with its own probability."""
        use = max(probs, key=lambda label: probs[label])
        if use != NONE and probs[use] < min_confidence:
            use = NONE
        return cls(use, probs[use], probs)

    @property
    def in_use(self) -> bool:
        return self.use != NONE

    def to_dict(self) -> dict:
        return {"use": self.use, "confidence": round(self.confidence, 4)}


class PhoneStage(Stage):
    key = "phone"
    needs = ()
    section = "phone"
    latency_key = "phone"

    def __init__(self, classifier: Classifier, config: PhoneConfig, video: bool):
        self.classifier, self.config, self.video = classifier, config, video
        self._last: tuple[float, PhoneResult] | None = None  # (frame time, answer) of the last run

    @classmethod
    def from_config(cls, config: Config, video: bool) -> PhoneStage | None:
        if not config.phone.enabled:
            return None
        models = config.models
        precision = models.phone.precision
        missing = f"copy models/phone.{precision}.onnx there, set models.phone.path, or phone.enabled: false"
        classifier = Classifier(
            models.resolve("phone"), "phone", models.intra_op_threads, models.inter_op_threads, missing
        )
        return cls(classifier, config.phone, video)

    def run(self, frame: FrameWork) -> PhoneResult | None:
        if not self.video:
            return self.judge(frame) if frame.face is not None else None
        last = self._last
        if last is not None and 0.0 <= frame.ts - last[0] < self.config.interval_s:
            return last[1]
        result = self.judge(frame)
        self._last = (frame.ts, result)
        return result

    def judge(self, frame: FrameWork) -> PhoneResult:
        """The model on the whole frame, now."""
        whole = Box(0, 0, frame.width, frame.height)
        probs = self.classifier.predict(frame.image, frame.grey, whole)
        return PhoneResult.from_probs(probs, self.config.min_confidence)

    def models(self) -> dict[str, Path]:
        return {"phone": self.classifier.path}
