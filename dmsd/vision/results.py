"""What one analysed frame yields: the face and each stage's measure, typed (dmsd.vision.stages).

Their JSON is written at the edge, by dmsd.publish.payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from dmsd.vision.geometry import Box

M = TypeVar("M")


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

    def get(self, kind: type[M]) -> M | None:
        """The measure of this type (`result.get(Eyes)`), or None."""
        return next((m for m in self.measures.values() if isinstance(m, kind)), None)
