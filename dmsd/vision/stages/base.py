"""The per-frame stage interface: what a stage needs, what it adds, how it is timed and which config it reads.

The analyzer (dmsd.vision.analyzer) runs the registered stages (dmsd.vision.stages) in order on a `FrameWork`, the
frame and what the earlier stages found in it. Each stage adds its one `product` (a key and a type,
dmsd.vision.results.Product); a stage whose `needs` are not all there (no face in this frame) is skipped, and its
product is None. Every product but the face's is a measure: it goes into the per-image result under its key, in
registration order (its JSON is written by dmsd.publish.payloads).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from dmsd.vision.geometry import Box
from dmsd.vision.results import FaceTrack, Product

if TYPE_CHECKING:
    from dmsd.config import Config
    from dmsd.vision.landmarks import Landmarks

P = TypeVar("P")


@dataclass(frozen=True)
class LocatedFace:
    """The face stage's product: the driver's face box (None: no face), its mesh (None: unknown), and how it was
    found or why it was lost."""

    box: Box | None
    landmarks: Landmarks | None = None
    track: FaceTrack | None = None


FACE = Product("face", LocatedFace)


@dataclass
class FrameWork:
    """One frame on its way through the stages: the pixels, the products so far and the per-stage latency.

    image: BGR, or grey from a grey camera; grey: its grey version (made once, for every stage that wants it).
    convert_ms: what making `grey` cost, counted in the face stage's `detect` time.
    """

    image: np.ndarray
    grey: np.ndarray
    convert_ms: float = 0.0
    ts: float = 0.0  # the frame's own time, for a stage that runs less often than every frame
    products: dict[str, object | None] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    @property
    def face(self) -> Box | None:
        located = self.get(FACE)
        return located.box if located is not None else None

    @property
    def track(self) -> FaceTrack | None:
        located = self.get(FACE)
        return located.track if located is not None else None

    @property
    def landmarks(self) -> Landmarks | None:
        located = self.get(FACE)
        return located.landmarks if located is not None else None

    def get(self, product: Product[P]) -> P | None:
        """An earlier stage's product, or None."""
        return product.of(self.products)

    def has(self, need: str) -> bool:
        """Whether `need` is known in this frame: "face", "landmarks", or an earlier stage's key."""
        if need == "face":
            return self.face is not None
        if need == "landmarks":
            return self.landmarks is not None
        return self.products.get(need) is not None


class Stage(ABC, Generic[P]):
    """One step of the per-frame analysis, making one product of type P.

    product: what it makes (its key names it in the result JSON; `Stage[P]`'s P is its type).
    needs: what must be known in the frame for the stage to run ("face", "landmarks", or earlier stages' keys).
    latency_key: where its time goes in `latency_ms`; None: counted in `total` only, or the stage writes its own.
    """

    product: ClassVar[Product[Any]]
    needs: ClassVar[tuple[str, ...]] = ("face",)
    latency_key: ClassVar[str | None] = None

    @classmethod
    @abstractmethod
    def from_config(cls, config: Config, video: bool) -> Stage[P] | None:
        """The stage as `config` sets it up, or None when the config turns it off. video: frames follow one
        another (a stage may track); False for unrelated still images."""

    @abstractmethod
    def run(self, frame: FrameWork) -> P | None:
        """This stage's product for the frame (None: unknown in this frame)."""

    def models(self) -> dict[str, Path]:
        """The model files the stage runs, by name (for logs and reports)."""
        return {}
