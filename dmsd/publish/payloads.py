"""The JSON of what dmsd tells the world: the per-image result (`--once`), the driver's state (`<prefix>/state`) and
the events (`<prefix>/events`). Written here only.

vision/ and driver/ hand on typed objects holding what they measured; they become JSON here, at the edge, when they
are published, rounded for reading: each measure by its own writer (`measure_json`), and an event's `before` and
`after` key by key (`SIDE_DIGITS`). `face`, `emotion` and `seatbelt` are written by the same code for a result and for
the state, so the two never drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from functools import singledispatch
from numbers import Real
from typing import TYPE_CHECKING

from dmsd.config import EyesConfig
from dmsd.driver.alertness import AttentionState, DrowsinessState, EyesState, HeadState
from dmsd.driver.eye_closure import still_verdict
from dmsd.driver.phone import PhoneState
from dmsd.driver.vehicle import VehicleBlock
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.face_measures import Eyes, HeadPose, Mouth
from dmsd.vision.geometry import Box
from dmsd.vision.results import FaceTrack
from dmsd.vision.stages.emotion import EmotionResult
from dmsd.vision.stages.mesh import BLENDSHAPES, EYES
from dmsd.vision.stages.occupancy import SeatOccupancy
from dmsd.vision.stages.phone import PhoneResult
from dmsd.vision.stages.seatbelt import SeatbeltResult

if TYPE_CHECKING:
    from dmsd.driver.events import Event
    from dmsd.driver.state import DriverState
    from dmsd.vision.results import FrameResult

# The digits an event's `before` or `after` value is written with, by key; other values are written as they are.
SIDE_DIGITS = {
    "confidence": 4,
    "perclos": 3,
    "closed_s": 2,
    "duration_s": 2,
    "for_s": 2,
    "away_s": 2,
    "away_in_window_s": 2,
}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _pair(left: float, right: float, digits: int = 3) -> dict:
    return {"left": round(left, digits), "right": round(right, digits)}


def face_block(face: Box | None) -> dict | None:
    return {"box": face.as_list()} if face else None


def latency_block(latency_ms: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in latency_ms.items()}


@singledispatch
def measure_json(measure: object) -> dict:
    """A measure's or a state block's JSON. A measure without a writer of its own here (a new stage's) is written
    field by field, numbers to 3 digits."""
    if not dataclasses.is_dataclass(measure) or isinstance(measure, type):
        raise TypeError(f"no JSON form for {type(measure).__name__}")
    return {field.name: _plain(getattr(measure, field.name)) for field in dataclasses.fields(measure)}


def _plain(value: object) -> object:
    if isinstance(value, Real) and not isinstance(value, int):
        return round(float(value), 3)
    if isinstance(value, StrEnum):
        return str(value)
    return value


def _block(measure: object | None) -> dict | None:
    """A measure's JSON, null when unknown."""
    return None if measure is None else measure_json(measure)


@measure_json.register
def _track(track: FaceTrack) -> dict:
    return {"found_by": track.found_by, "lost_since": _round(track.lost_since, 3), "lost_why": track.lost_why}


@measure_json.register
def _eyes(eyes: Eyes) -> dict:
    out: dict = {"left": round(eyes.left, 3), "right": round(eyes.right, 3)}
    if eyes.p_closed_left is not None and eyes.p_closed_right is not None:
        out["p_closed"] = _pair(eyes.p_closed_left, eyes.p_closed_right)
    out["width"] = _pair(eyes.width_left, eyes.width_right, 1)
    if eyes.lens_left is not None and eyes.lens_right is not None:
        out["lens"] = _pair(eyes.lens_left, eyes.lens_right)
        out["glare"] = _pair(eyes.glare_left, eyes.glare_right)
    return out


@measure_json.register
def _head_pose(pose: HeadPose) -> dict:
    return {"yaw": round(pose.yaw, 1), "pitch": round(pose.pitch, 1), "roll": round(pose.roll, 1)}


@measure_json.register
def _mouth(mouth: Mouth) -> dict:
    return {"openness": round(mouth.openness, 3)}


@measure_json.register
def _shapes(shapes: FaceShapes) -> dict:
    return {
        "blink": _pair(shapes.blink_left, shapes.blink_right),
        "squint": _pair(shapes.squint_left, shapes.squint_right),
        "look_down": _pair(shapes.look_down_left, shapes.look_down_right),
        "jaw_open": round(shapes.jaw_open, 3),
        "smile": _pair(shapes.smile_left, shapes.smile_right),
    }


def emotion_block(emotion: EmotionResult, include_probs: bool = True) -> dict:
    out: dict = {"label": emotion.label, "confidence": round(emotion.confidence, 4)}
    if include_probs:
        out["probs"] = {k: round(v, 4) for k, v in emotion.probs.items()}
    return out


@measure_json.register
def _emotion(emotion: EmotionResult) -> dict:
    return emotion_block(emotion)


@measure_json.register
def _seatbelt(belt: SeatbeltResult) -> dict:
    return {"worn": belt.worn, "confidence": round(belt.confidence, 4)}


@measure_json.register
def _phone(phone: PhoneResult) -> dict:
    return {"use": phone.use, "confidence": round(phone.confidence, 4)}


@measure_json.register
def _occupancy(seat: SeatOccupancy) -> dict:
    return {"similarity": round(seat.similarity, 3)}


@measure_json.register
def _eyes_state(eyes: EyesState) -> dict:
    measured = eyes.measured
    out: dict = {
        "left": round(measured.left, 3),
        "right": round(measured.right, 3),
        "closed": eyes.closed,
        "verdict": str(eyes.verdict),
    }
    if measured.p_closed_left is not None and measured.p_closed_right is not None:
        out["p_closed"] = _pair(measured.p_closed_left, measured.p_closed_right)
    if eyes.shapes is not None:
        out["blink"] = round(eyes.shapes.blink, 3)
    return {
        **out,
        "openness": round(eyes.openness, 3),
        "closed_s": round(eyes.closed_s, 2),
        "blinks": eyes.blinks,
        "perclos": _round(eyes.perclos, 3),
    }


@measure_json.register
def _head_state(head: HeadState) -> dict:
    return {
        **measure_json(head.pose),
        "forward": {"yaw": round(head.forward_yaw, 1), "pitch": round(head.forward_pitch, 1)},
        "on_road": head.on_road,
    }


@measure_json.register
def _attention(attention: AttentionState) -> dict:
    return {
        "state": str(attention.state),
        "kind": None if attention.kind is None else str(attention.kind),
        "away_s": round(attention.away_s, 2),
        "away_in_window_s": round(attention.away_in_window_s, 2),
        "unresponsive": attention.unresponsive,
    }


@measure_json.register
def _drowsiness(drowsiness: DrowsinessState) -> dict:
    return {
        "state": str(drowsiness.state),
        "perclos": _round(drowsiness.perclos, 3),
        "microsleeps": drowsiness.microsleeps,
    }


@measure_json.register
def _phone_state(phone: PhoneState) -> dict:
    return {"use": phone.use, "confidence": round(phone.confidence, 4)}


@measure_json.register
def _vehicle(block: VehicleBlock) -> dict:
    out: dict = {}
    if block.data is not None and block.age_s is not None:
        out = {"speed_kmh": round(block.data.speed_kmh, 1), "gear": block.data.gear, "age_s": round(block.age_s, 1)}
    out["gating"] = block.gating
    if block.gating:
        out["held_by"] = {str(gate): reason for gate, reason in block.held_by.items()}
    else:
        out["reason"] = block.reason
    return {**out, "held": [str(kind) for kind in block.held], "held_total": block.held_total}


def result_payload(result: FrameResult, eyes: EyesConfig | None = None) -> dict:
    """The per-image result: source, ts, face, each measure under its stage's key, `still_verdict` (the eye rule
    on this image alone, with no history: `eyes`, its config), latency_ms."""
    verdict = still_verdict(result.get(EYES), result.get(BLENDSHAPES), eyes or EyesConfig())
    return {
        "source": result.source,
        "ts": round(result.ts, 3),
        "face": face_block(result.face),
        "tracking": _block(result.track),
        **{key: _block(measure) for key, measure in result.measures.items()},
        "still_verdict": {"eyes": None if verdict is None else str(verdict)},
        "latency_ms": latency_block(result.latency_ms),
    }


def state_payload(state: DriverState, include_probs: bool = False, vehicle: VehicleBlock | None = None) -> dict:
    """The retained state (README.md, "MQTT"); `vehicle`: the vehicle gate's block, when there is one."""
    payload = {
        "source": state.source,
        "ts": round(state.ts, 3),
        "face": face_block(state.face),
        "tracking": _block(state.track),
        "emotion": emotion_block(state.emotion, include_probs) if state.emotion else None,
        "seatbelt": _block(state.seatbelt),
        "eyes": _block(state.eyes),
        "blendshapes": _block(state.blendshapes),
        "head": _block(state.head),
        "attention": _block(state.attention),
        "drowsiness": _block(state.drowsiness),
        "phone": _block(state.phone),
        "driver_present": state.driver_present,
        "camera": str(state.camera),
        "latency_ms": latency_block(state.latency_ms),
    }
    if vehicle is not None:
        payload["vehicle"] = measure_json(vehicle)
    return payload


def side_json(side: Mapping[str, object]) -> dict:
    """An event's `before` or `after`: its values rounded by `SIDE_DIGITS`, a measure in it by its own writer."""
    out: dict = {}
    for key, value in side.items():
        if isinstance(value, Real) and not isinstance(value, int) and key in SIDE_DIGITS:
            value = round(float(value), SIDE_DIGITS[key])
        elif isinstance(value, StrEnum):
            value = str(value)
        elif isinstance(value, Mapping):
            value = side_json(value)
        elif value is not None and not isinstance(value, (bool, int, float, str)):
            value = measure_json(value)
        out[key] = value
    return out


def event_json(event: Event) -> dict:
    """An event: its type, time, and what changed (README.md, "Events")."""
    return {
        "type": str(event.type),
        "ts": round(event.ts, 3),
        "before": side_json(event.before),
        "after": side_json(event.after),
    }


def event_payload(event: Event, seq: int, run: str) -> dict:
    """The published event: `event_json` numbered with its `seq` in this `run` (dmsd.driver.events)."""
    return {**event_json(event), "seq": seq, "run": run}
