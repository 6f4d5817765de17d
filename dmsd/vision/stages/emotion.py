"""The emotion stage: the emotion model on the face box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dmsd.config import Config
from dmsd.vision.classifier import Classifier
from dmsd.vision.results import Product
from dmsd.vision.stages.base import FrameWork, Stage


@dataclass(frozen=True)
class EmotionResult:
    label: str
    confidence: float
    probs: dict[str, float]

    @classmethod
    def from_probs(cls, probs: dict[str, float]) -> EmotionResult:
        """The most likely label, with its probability."""
        label = max(probs, key=lambda name: probs[name])
        return cls(label, probs[label], probs)


EMOTION = Product("emotion", EmotionResult)


class EmotionStage(Stage[EmotionResult]):
    product = EMOTION
    latency_key = "emotion"

    def __init__(self, classifier: Classifier):
        self.classifier = classifier

    @classmethod
    def from_config(cls, config: Config, video: bool) -> EmotionStage:
        models = config.models
        return cls(Classifier(models.resolve("emotion"), "emotion", models.intra_op_threads, models.inter_op_threads))

    def run(self, frame: FrameWork) -> EmotionResult | None:
        assert frame.face is not None  # needs: face
        return EmotionResult.from_probs(self.classifier.predict(frame.image, frame.grey, frame.face))

    def models(self) -> dict[str, Path]:
        return {"emotion": self.classifier.path}
