"""The emotion stage: the emotion model on the face box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dmsd.config import Config
from dmsd.vision.classifier import Classifier
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

    def to_dict(self, include_probs: bool = True) -> dict:
        out: dict = {"label": self.label, "confidence": round(self.confidence, 4)}
        if include_probs:
            out["probs"] = {k: round(v, 4) for k, v in self.probs.items()}
        return out


class EmotionStage(Stage):
    key = "emotion"
    section = "models"
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
