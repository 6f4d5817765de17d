"""The seatbelt stage: the chest region below the face, and the seatbelt model on it.

Where the region is mostly outside the frame the belt is unknown (None), never "not worn"; and so, with
`chest.hands_unknown_above`, where hands cover that share of it on a frame that reads "not worn".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dmsd.config import ChestConfig, Config
from dmsd.vision.chest import chest_region, neck_aligned
from dmsd.vision.classifier import Classifier
from dmsd.vision.geometry import Box
from dmsd.vision.results import Product
from dmsd.vision.stages.base import FrameWork, Stage

if TYPE_CHECKING:
    from dmsd.vision.hands import PalmDetector


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


SEATBELT = Product("seatbelt", SeatbeltResult)


def chest_of(frame: FrameWork, chest: ChestConfig) -> Box | None:
    """The chest region of a frame whose face is found, as the daemon cuts it (the seatbelt trainer's clips too)."""
    anchor = frame.face
    assert anchor is not None  # needs: face
    if frame.landmarks is not None and chest.from_landmarks:
        anchor = neck_aligned(anchor, frame.landmarks.points)  # a turned head moves the chest less than the face
    return chest_region(anchor, frame.width, frame.height, chest)


class SeatbeltStage(Stage[SeatbeltResult]):
    product = SEATBELT
    latency_key = "seatbelt"

    def __init__(self, classifier: Classifier, chest: ChestConfig, hands: PalmDetector | None = None):
        self.classifier, self.chest, self.hands = classifier, chest, hands

    @classmethod
    def from_config(cls, config: Config, video: bool) -> SeatbeltStage:
        models = config.models
        classifier = Classifier(
            models.resolve("seatbelt"), "seatbelt", models.intra_op_threads, models.inter_op_threads
        )
        hands = None
        if config.chest.hands_unknown_above is not None:
            from dmsd.vision.hands import PalmDetector

            hands = PalmDetector(config.chest.hands_model(models), models.intra_op_threads, key="chest.hands_path")
        return cls(classifier, config.chest, hands)

    def run(self, frame: FrameWork) -> SeatbeltResult | None:
        region = chest_of(frame, self.chest)
        if region is None:
            return None
        result = SeatbeltResult.from_p_worn(self.classifier.predict(frame.image, frame.grey, region)["worn"])
        if not result.worn and self.hands is not None and self.chest.hands_unknown_above is not None:
            boxes = [hand.hand_box for hand in self.hands.find(frame.image)]
            if covered_share(region, boxes) >= self.chest.hands_unknown_above:
                return None  # a hand, not a missing belt, may be what the model saw
        return result

    def models(self) -> dict[str, Path]:
        found = {"seatbelt": self.classifier.path}
        if self.hands is not None:
            found["palms"] = self.hands.path
        return found


def covered_share(region: Box, boxes: list[Box]) -> float:
    """The share of `region` that the union of `boxes` covers."""
    covered = np.zeros((region.h, region.w), bool)
    for box in boxes:
        x0, y0 = max(box.x - region.x, 0), max(box.y - region.y, 0)
        x1, y1 = min(box.x + box.w - region.x, region.w), min(box.y + box.h - region.y, region.h)
        if x1 > x0 and y1 > y0:
            covered[y0:y1, x0:x1] = True
    return float(covered.mean())
