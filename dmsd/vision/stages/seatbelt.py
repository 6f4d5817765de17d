"""The seatbelt stage: the chest region below the face, and the seatbelt model on it.

Where the region is mostly outside the frame the belt is unknown (None), never "not worn".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dmsd.config import ChestConfig, Config
from dmsd.vision.classifier import Classifier
from dmsd.vision.geometry import Box, chest_region, neck_aligned
from dmsd.vision.stages.base import FrameWork, Stage


@dataclass(frozen=True)
class SeatbeltResult:
    worn: bool
    confidence: float

    @classmethod
    def from_p_worn(cls, p_worn: float) -> SeatbeltResult:
        return cls(p_worn >= 0.5, max(p_worn, 1.0 - p_worn))

    @classmethod
    def held(cls, worn: bool, p_worn: float) -> SeatbeltResult:
        """A verdict held by hysteresis, with the confidence `p_worn` gives it (which may be under 0.5)."""
        return cls(worn, p_worn if worn else 1 - p_worn)

    @property
    def p_worn(self) -> float:
        return self.confidence if self.worn else 1.0 - self.confidence

    def to_dict(self) -> dict:
        return {"worn": self.worn, "confidence": round(self.confidence, 4)}


def chest_of(frame: FrameWork, chest: ChestConfig) -> Box | None:
    """The chest region of a frame whose face is found, as the daemon cuts it (the seatbelt trainer's clips too)."""
    anchor = frame.face
    assert anchor is not None  # needs: face
    if frame.landmarks is not None and chest.from_landmarks:
        anchor = neck_aligned(anchor, frame.landmarks.points)  # a turned head moves the chest less than the face
    return chest_region(anchor, frame.width, frame.height, chest)


class SeatbeltStage(Stage):
    key = "seatbelt"
    section = "chest"
    latency_key = "seatbelt"

    def __init__(self, classifier: Classifier, chest: ChestConfig):
        self.classifier, self.chest = classifier, chest

    @classmethod
    def from_config(cls, config: Config, video: bool) -> SeatbeltStage:
        models = config.models
        classifier = Classifier(
            models.resolve("seatbelt"), "seatbelt", models.intra_op_threads, models.inter_op_threads
        )
        return cls(classifier, config.chest)

    def run(self, frame: FrameWork) -> SeatbeltResult | None:
        region = chest_of(frame, self.chest)
        if region is None:
            return None
        return SeatbeltResult.from_p_worn(self.classifier.predict(frame.image, frame.grey, region)["worn"])

    def models(self) -> dict[str, Path]:
        return {"seatbelt": self.classifier.path}
