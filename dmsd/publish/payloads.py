"""The JSON of what dmsd tells the world: the per-image result (`--once`) and the driver's state (`<prefix>/state`).

vision/ and driver/ hand on typed objects; they become JSON here, at the edge, when they are published: each typed
block gives its own form (`to_dict`, rounded for reading) and this module puts the blocks together. `face`,
`emotion` and `seatbelt` are written by the same code for a result and for the state, so the two never drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from dmsd.config import EyesConfig
from dmsd.driver.eye_closure import still_verdict
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.face_measures import Eyes
from dmsd.vision.geometry import Box
from dmsd.vision.stages.base import Measure

if TYPE_CHECKING:
    from dmsd.driver.state import DriverState
    from dmsd.vision.results import FrameResult


def face_block(face: Box | None) -> dict | None:
    return {"box": face.as_list()} if face else None


def latency_block(latency_ms: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in latency_ms.items()}


def _block(measure: object | None) -> dict | None:
    """A measure's JSON, null when unknown."""
    return None if measure is None else cast(Measure, measure).to_dict()


def result_payload(result: FrameResult, eyes: EyesConfig | None = None) -> dict:
    """The per-image result: source, ts, face, each measure under its stage's key, `still_verdict` (the eye rule
    on this image alone, with no history: `eyes`, its config), latency_ms."""
    verdict = still_verdict(result.get(Eyes), result.get(FaceShapes), eyes or EyesConfig())
    return {
        "source": result.source,
        "ts": round(result.ts, 3),
        "face": face_block(result.face),
        "tracking": _block(result.track),
        **{key: _block(measure) for key, measure in result.measures.items()},
        "still_verdict": {"eyes": None if verdict is None else str(verdict)},
        "latency_ms": latency_block(result.latency_ms),
    }


def state_payload(state: DriverState, include_probs: bool = False, vehicle: dict | None = None) -> dict:
    """The retained state (README.md, "MQTT"); `vehicle`: the vehicle gate's block, when there is one."""
    payload = {
        "source": state.source,
        "ts": round(state.ts, 3),
        "face": face_block(state.face),
        "tracking": _block(state.track),
        "emotion": state.emotion.to_dict(include_probs) if state.emotion else None,
        "seatbelt": _block(state.seatbelt),
        "eyes": _block(state.eyes),
        "blendshapes": _block(state.blendshapes),
        "head": _block(state.head),
        "attention": _block(state.attention),
        "drowsiness": _block(state.drowsiness),
        "phone": _block(state.phone),
        "driver_present": state.driver_present,
        "camera": "ok" if state.camera_ok else "lost",
        "latency_ms": latency_block(state.latency_ms),
    }
    if vehicle is not None:
        payload["vehicle"] = vehicle
    return payload
