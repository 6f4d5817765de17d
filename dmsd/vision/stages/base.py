"""The per-frame stage interface: what a stage needs, what it adds, how it is timed and which config it reads.

The analyzer (dmsd.vision.analyzer) runs the registered stages (dmsd.vision.stages) in order on a `FrameWork`, the
frame and what the earlier stages found in it. Each stage adds one product under its `key`; a stage whose `needs`
are not all there (no face in this frame) is skipped, and its product is None. Products that are measures (they
have `to_dict`) go into the per-image result and its JSON under the stage's key, in registration order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

import numpy as np

from dmsd.vision.geometry import Box
from dmsd.vision.results import FaceTrack

if TYPE_CHECKING:
    from dmsd.config import Config
    from dmsd.vision.landmarks import Landmarks

P = TypeVar("P")


class Measure(Protocol):
    """What a stage adds to the per-image result: a typed object with one JSON form."""

    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class LocatedFace:
    """The face stage's product: the driver's face box (None: no face), its mesh (None: unknown), and how it was
    found or why it was lost."""

    box: Box | None
    landmarks: Landmarks | None = None
    track: FaceTrack | None = None


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
    products: dict[str, object] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    @property
    def face(self) -> Box | None:
        located = self.products.get("face")
        return located.box if isinstance(located, LocatedFace) else None

    @property
    def track(self) -> FaceTrack | None:
        located = self.products.get("face")
        return located.track if isinstance(located, LocatedFace) else None

    @property
    def landmarks(self) -> Landmarks | None:
        located = self.products.get("face")
        return located.landmarks if isinstance(located, LocatedFace) else None

    def get(self, kind: type[P]) -> P | None:
        """An earlier stage's product of this type, or None."""
        return next((p for p in self.products.values() if isinstance(p, kind)), None)

    def has(self, need: str) -> bool:
        """Whether `need` is known in this frame: "face", "landmarks", or an earlier stage's key."""
        if need == "face":
            return self.face is not None
        if need == "landmarks":
            return self.landmarks is not None
        return self.products.get(need) is not None


class Stage(ABC):
    """One step of the per-frame analysis.

    key: the product's name (and its key in the result JSON and in `latency_ms`).
    needs: what must be known in the frame for the stage to run ("face", "landmarks", or earlier stages' keys).
    section: the configuration section the stage reads (besides `models`), for readers and the docs.
    latency_key: where its time goes in `latency_ms`; None: counted in `total` only, or the stage writes its own.
    """

    key: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("face",)
    section: ClassVar[str | None] = None
    latency_key: ClassVar[str | None] = None

    @classmethod
    @abstractmethod
    def from_config(cls, config: Config, video: bool) -> Stage | None:
        """The stage as `config` sets it up, or None when the config turns it off. video: frames follow one
        another (a stage may track); False for unrelated still images."""

    @abstractmethod
    def run(self, frame: FrameWork) -> object | None:
        """This stage's product for the frame (None: unknown in this frame)."""

    def models(self) -> dict[str, Path]:
        """The model files the stage runs, by name (for logs and reports)."""
        return {}
