"""What one analysed frame yields: the face and each stage's measure, typed (dmsd.vision.stages).

Their JSON is written at the edge, by dmsd.publish.payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from dmsd.vision.geometry import Box

M = TypeVar("M")


@dataclass(frozen=True)
class Product(Generic[M]):
    """What a stage makes of a frame: its key (in the result, its JSON and `latency_ms`) and its type. Products are
    looked up by key, and the type says what the key holds (`result.get(EYES)` is an `Eyes` or None)."""

    key: str
    kind: type[M]

    def of(self, products: dict[str, object | None]) -> M | None:
        """This product among `products` (by key), or None."""
        found = products.get(self.key)
        if found is not None and not isinstance(found, self.kind):
            raise TypeError(f"product {self.key!r} is a {type(found).__name__}, not a {self.kind.__name__}")
        return found


@dataclass(frozen=True)
class FaceTrack:
    """How the face stage came by this frame's face, or why it has none (the preview and the state show it).

    found_by: `mesh` (the face mesh followed the last frame's face) or the detector that found it (`haar`,
    `blazeface`); None without a face. lost_since: the frame time the face was lost; lost_why: why, in words.
    """

    found_by: str | None
    lost_since: float | None = None
    lost_why: str | None = None


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

    def get(self, product: Product[M]) -> M | None:
        """A stage's measure (`result.get(EYES)`), or None."""
        return product.of(self.measures)
