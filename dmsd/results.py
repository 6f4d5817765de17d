"""What one analysed frame yields: the typed objects the pipeline hands on, and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field

from dmsd.geometry import Box


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


@dataclass(frozen=True)
class FrameResult:
    """The per-image result of DESIGN.md: face, emotion and seatbelt are None when no face is found.

    seatbelt is also None when the chest region below the face is out of the frame: unknown, never "not worn".
    """

    source: str
    ts: float
    face: Box | None
    emotion: EmotionResult | None
    seatbelt: SeatbeltResult | None
    latency_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, include_probs: bool = True) -> dict:
        return {
            "source": self.source,
            "ts": round(self.ts, 3),
            "face": {"box": self.face.as_list()} if self.face else None,
            "emotion": self.emotion.to_dict(include_probs) if self.emotion else None,
            "seatbelt": self.seatbelt.to_dict() if self.seatbelt else None,
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
        }
