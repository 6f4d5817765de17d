"""The phone stage: the phone model on the region its own contract names, a few times a second on video.

A model says in `dmsd.region` (JSON) what it was trained on: `{"anchor": "face", "width": W, "height": H, "top": T}`
is a box W face widths wide centred on the face, from T face heights above the face's top, H face heights tall, cut
to the frame; `{"anchor": "frame"}` (or no `dmsd.region`: the first phone model) is the whole frame. The face-anchored
region sees a phone at the ear, and the hand holding it, the same on a near-infrared close-up and a wide colour cabin.

On video it runs whether or not this frame's face was found (a hand and a phone at the ear hide the face from the
detector): a lost face's region is the last face's (dmsd.driver judges a reading only while the driver is there).
It runs at most every `phone.interval_s` of frame time, and the last answer stands between runs. On a still, with no
face there is no driver to judge, and the answer is None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dmsd.config import Config, PhoneConfig
from dmsd.errors import DmsdError
from dmsd.vision.classifier import Classifier
from dmsd.vision.geometry import Box
from dmsd.vision.results import Product
from dmsd.vision.stages.base import FrameWork, Stage

NONE = "none"


@dataclass(frozen=True)
class PhoneRegion:
    """What the phone model judges (see the module): around the face (`anchor` face) or the whole frame."""

    anchor: str
    width: float = 0.0
    height: float = 0.0
    top: float = 0.0

    @classmethod
    def parse(cls, text: str | None, where: str) -> PhoneRegion:
        """A model's `dmsd.region`; None (a model without one) is the whole frame."""
        if text is None:
            return cls("frame")
        try:
            spec = json.loads(text)
            anchor = spec["anchor"]
            if anchor == "frame":
                return cls("frame")
            region = cls(anchor, float(spec["width"]), float(spec["height"]), float(spec["top"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise DmsdError(
                f'{where}: dmsd.region must be JSON {{"anchor": "frame"}} or {{"anchor": "face", "width": W, '
                f'"height": H, "top": T}} ({exc!r})'
            ) from None
        if anchor != "face" or not (0.5 <= region.width <= 10 and 0.5 <= region.height <= 10 and -2 <= region.top <= 5):
            raise DmsdError(
                f"{where}: dmsd.region anchor must be face or frame, width and height 0.5 to 10 face sizes, top -2 "
                f"to 5 (got {text[:80]})"
            )
        return region

    def to_json(self) -> str:
        if self.anchor == "frame":
            return json.dumps({"anchor": "frame"})
        return json.dumps({"anchor": "face", "width": self.width, "height": self.height, "top": self.top})

    def box(self, face: Box | None, frame_width: int, frame_height: int) -> Box | None:
        """The region in the frame; None where it needs a face and there is none, or it falls outside the frame."""
        if self.anchor == "frame":
            return Box(0, 0, frame_width, frame_height)
        if face is None:
            return None
        width, height = self.width * face.w, self.height * face.h
        x = face.x + face.w / 2 - width / 2
        y = face.y - self.top * face.h
        return Box(round(x), round(y), round(width), round(height)).clipped(frame_width, frame_height)


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


PHONE = Product("phone", PhoneResult)


class PhoneStage(Stage[PhoneResult]):
    product = PHONE
    needs = ()
    latency_key = "phone"

    def __init__(self, classifier: Classifier, config: PhoneConfig, video: bool):
        self.classifier, self.config, self.video = classifier, config, video
        self.region = PhoneRegion.parse(classifier.meta.get("dmsd.region"), str(classifier.path))
        self._last: tuple[float, PhoneResult | None] | None = None  # (frame time, answer) of the last run
        self._face: Box | None = None  # the last face seen, for the frames that lose it

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
            return self.judge(frame, frame.face) if frame.face is not None else None
        if frame.face is not None:
            self._face = frame.face
        last = self._last
        if last is not None and 0.0 <= frame.ts - last[0] < self.config.interval_s:
            return last[1]
        result = self.judge(frame, self._face)
        self._last = (frame.ts, result)
        return result

    def judge(self, frame: FrameWork, face: Box | None) -> PhoneResult | None:
        """The model on the region around `face` (or the whole frame, as the model says), now; None without a
        region to judge."""
        region = self.region.box(face, frame.width, frame.height)
        if region is None:
            return None
        probs = self.classifier.predict(frame.image, frame.grey, region)
        return PhoneResult.from_probs(probs, self.config.min_confidence)

    def models(self) -> dict[str, Path]:
        return {"phone": self.classifier.path}
