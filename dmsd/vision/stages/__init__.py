"""The per-frame stages, in the order they run: the one place a new measure is registered.

Each stage is a `Stage` (stages/base.py) in a module of this folder: the face first, since every other stage
measures the face or the body around it, then each measure. A measure's product goes into the per-image result
(`--once`, `FrameResult`) under its key, in this order; its time into `latency_ms`.
"""

from __future__ import annotations

from dmsd.vision.stages.base import FACE, FrameWork, LocatedFace, Stage
from dmsd.vision.stages.emotion import EmotionStage
from dmsd.vision.stages.face import FaceStage
from dmsd.vision.stages.mesh import BlendshapesStage, EyesStage, HeadStage, MouthStage
from dmsd.vision.stages.occupancy import OccupancyStage
from dmsd.vision.stages.phone import PhoneStage
from dmsd.vision.stages.seatbelt import SeatbeltStage

STAGES: list[type[Stage]] = [
    FaceStage,
    EmotionStage,
    SeatbeltStage,
    EyesStage,
    BlendshapesStage,
    HeadStage,
    MouthStage,
    PhoneStage,
    OccupancyStage,
]

__all__ = ["FACE", "STAGES", "FrameWork", "LocatedFace", "Stage"]
