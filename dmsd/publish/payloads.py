"""The JSON of what dmsd tells the world: the per-image result (`--once`) and the driver's state (`<prefix>/state`).

The typed objects of vision/ and driver/ are turned into JSON here, at the edge, and nowhere else: each gives its
own block (`to_dict`), rounded for reading; this module puts the blocks together. `face`, `emotion` and `seatbelt`
are written by the same code for a result and for the state, so the two can never drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from dmsd.vision.geometry import Box
from dmsd.vision.stages.base import Measure
from dmsd.vision.stages.emotion import EmotionResult

if TYPE_CHECKING:
    from dmsd.driver.state import DriverState
    from dmsd.vision.results import FrameResult


def face_block(face: Box | None) -> dict | None:
    return {"box": face.as_list()} if face else None


def latency_block(latency_ms: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in latency_ms.items()}


def _block(measure: object | None, include_probs: bool = True) -> dict | None:
    """A measure's JSON, null when unknown."""
    if measure is None:
        return None
    if isinstance(measure, EmotionResult):
        return measure.to_dict(include_probs)
    return cast(Measure, measure).to_dict()


def result_payload(result: FrameResult) -> dict:
    """The per-image result: source, ts, face, each measure under its stage's key, latency_ms."""
    return {
        "source": result.source,
        "ts": round(result.ts, 3),
        "face": face_block(result.face),
        **{key: _block(measure) for key, measure in result.measures.items()},
        "latency_ms": latency_block(result.latency_ms),
    }


def state_payload(state: DriverState, include_probs: bool = False, vehicle: dict | None = None) -> dict:
    """The retained state (README.md, "MQTT"); `vehicle`: the vehicle gate's block, when there is one."""
    payload = {
        "source": state.source,
        "ts": round(state.ts, 3),
        "face": face_block(state.face),
        "emotion": _block(state.emotion, include_probs),
        "seatbelt": _block(state.seatbelt),
        "eyes": _block(state.eyes),
        "head": _block(state.head),
        "attention": _block(state.attention),
        "drowsiness": _block(state.drowsiness),
        "driver_present": state.driver_present,
        "camera": "ok" if state.camera_ok else "lost",
        "latency_ms": latency_block(state.latency_ms),
    }
    if vehicle is not None:
        payload["vehicle"] = vehicle
    return payload
