"""What one analysed frame yields: the face and each stage's measure, typed (dmsd.vision.stages).

Their JSON is written at the edge, by dmsd.publish.payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from dmsd.vision.geometry import Box

M = TypeVar("M")


@dataclass(frozen=True)
class FaceTrack:
    """How the face stage came by this frame's face, or why it has none (the preview and the state show it).

    found_by: `mesh` (the face mesh followed the last frame's face) or the detector that found it (`haar`,
    `blazeface`); None without a face. lost_since: the frame time the face was lost; lost_why: why, in words.
    """

    found_by: str | None
    lost_since: float | None = None
    lost_why: str | None = None

    def to_dict(self) -> dict:
        return {
            "found_by": self.found_by,
            "lost_since": None if self.lost_since is None else round(self.lost_since, 3),
            "lost_why": self.lost_why,
        }


@dataclass(frozen=True)
class FrameResult:
    """The per-image result (README.md, "Using it").

    measures: each registered measure stage's product by its key, in registration order; None when unknown (no
    face, the stage off, or nothing to measure: the chest region out of the frame is an unknown belt, never "not
    worn").
    """

    source: str
    ts: float
    face: Box | None
    measures: dict[str, object | None] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    track: FaceTrack | None = None  # None where the face stage did not run (a result built by hand)

    def get(self, kind: type[M]) -> M | None:
        """The measure of this type (`result.get(Eyes)`), or None."""
        return next((m for m in self.measures.values() if isinstance(m, kind)), None)
