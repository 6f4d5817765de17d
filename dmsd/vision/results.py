"""What one analysed frame yields: the typed objects the vision stage hands on, and their one JSON form.

`observation_dict` writes the `face`, `emotion` and `seatbelt` keys of both the per-image result (`--once`) and the
driver's state (README.md, "Using it" and "MQTT"), so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dmsd.vision.face_measures import Eyes, HeadPose, Mouth
from dmsd.vision.geometry import Box


@dataclass(frozen=True)
class EmotionResult:
    label: str
    confidence: float
    probs: dict[str, float]

    def to_dict(self, include_probs: bool = True) -> dict:
        out = {"label": self.label, "confidence": round(self.confidence, 4)}
        if include_probs:
            out["probs"] = {k: round(v, 4) for k, v in self.probs.items()}
        return out


@dataclass(frozen=True)
class SeatbeltResult:
    worn: bool
    confidence: float

    @property
    def p_worn(self) -> float:
        return self.confidence if self.worn else 1.0 - self.confidence

    def to_dict(self) -> dict:
        return {"worn": self.worn, "confidence": round(self.confidence, 4)}


def observation_dict(
    face: Box | None, emotion: EmotionResult | None, seatbelt: SeatbeltResult | None, include_probs: bool
) -> dict:
    """The face, emotion and seatbelt of a result or a state as JSON: null when unknown, never guessed."""
    return {
        "face": {"box": face.as_list()} if face else None,
        "emotion": emotion.to_dict(include_probs) if emotion else None,
        "seatbelt": seatbelt.to_dict() if seatbelt else None,
    }


def latency_dict(latency_ms: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in latency_ms.items()}


@dataclass(frozen=True)
class FrameResult:
    """The per-image result (README.md, "Using it"): face, emotion, seatbelt, eyes, head and mouth are None when
    no face is found.

    seatbelt is also None when the chest region below the face is out of the frame: unknown, never "not worn".
    """

    source: str
    ts: float
    face: Box | None
    emotion: EmotionResult | None
    seatbelt: SeatbeltResult | None
    latency_ms: dict[str, float] = field(default_factory=dict)
    eyes: Eyes | None = None  # these three need the face mesh: None with landmarks off or no face
    head: HeadPose | None = None
    mouth: Mouth | None = None

    def to_dict(self, include_probs: bool = True) -> dict:
        return {
            "source": self.source,
            "ts": round(self.ts, 3),
            **observation_dict(self.face, self.emotion, self.seatbelt, include_probs),
            **{
                name: part.to_dict() if part else None
                for name, part in (("eyes", self.eyes), ("head", self.head), ("mouth", self.mouth))
            },
            "latency_ms": latency_dict(self.latency_ms),
        }
