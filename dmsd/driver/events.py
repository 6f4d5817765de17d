"""Events: what changed about the driver or the camera, every kind of them in one place, and their numbering.

`EventType` is the one list of event types. Each alert carries its gate (the vehicle context that may hold it back,
dmsd.driver.vehicle) and, if it lasts, the event that clears it; the README's event and gating tables, the vehicle
gate and the tests all derive from it.

Every event published carries `seq`, counted from 1 in the order events happen, and `run`, this daemon run's
own id: (`run`, `seq`) is unique across restarts, so a consumer can drop the repeats QoS 1 may deliver, also those
an earlier run's outbox resends (README.md, "MQTT").
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum


class Gate(StrEnum):
    """The kinds of alert the vehicle's speed and gear can hold back (`vehicle.*`)."""

    DISTRACTION = "distraction"
    DROWSINESS = "drowsiness"
    SEATBELT = "seatbelt"


class EventType(StrEnum):
    """Every event dmsd raises. An alert names its gate and, if it lasts until cleared, the event that clears it."""

    gate: Gate | None
    cleared_by_name: str | None

    def __new__(cls, value: str, gate: Gate | None = None, cleared_by: str | None = None) -> EventType:
        member = str.__new__(cls, value)
        member._value_ = value
        member.gate = gate
        member.cleared_by_name = cleared_by
        return member

    DRIVER_PRESENT = "driver_present"
    DRIVER_ABSENT = "driver_absent"
    EMOTION_CHANGED = "emotion_changed"
    SEATBELT_FASTENED = "seatbelt_fastened"
    SEATBELT_UNFASTENED = "seatbelt_unfastened", Gate.SEATBELT, "seatbelt_fastened"
    CAMERA_LOST = "camera_lost"
    CAMERA_RESTORED = "camera_restored"
    MICROSLEEP = "microsleep", Gate.DROWSINESS
    ASLEEP = "asleep", Gate.DROWSINESS, "awake"
    AWAKE = "awake"
    DROWSY = "drowsy", Gate.DROWSINESS, "alert"
    ALERT = "alert"
    DISTRACTED = "distracted", Gate.DISTRACTION, "attentive"
    ATTENTIVE = "attentive"
    UNRESPONSIVE = "unresponsive", Gate.DROWSINESS
    YAWN = "yawn", Gate.DROWSINESS
    PHONE_USE = "phone_use", Gate.DISTRACTION, "phone_down"
    PHONE_DOWN = "phone_down"

    @property
    def is_alert(self) -> bool:
        return self.gate is not None

    @property
    def cleared_by(self) -> EventType | None:
        """The all-clear of a lasting alert (`awake` for `asleep`); None for an alert of a moment or a non-alert."""
        return None if self.cleared_by_name is None else EventType(self.cleared_by_name)

    @property
    def clears(self) -> EventType | None:
        """The alert this event is the all-clear of, if any."""
        return next((alert for alert in EventType if alert.cleared_by is self), None)


class Drowsiness(StrEnum):
    """The state's `drowsiness.state`."""

    ALERT = "alert"
    DROWSY = "drowsy"
    ASLEEP = "asleep"


class Attention(StrEnum):
    """The state's `attention.state`."""

    ATTENTIVE = "attentive"
    DISTRACTED = "distracted"


class Distraction(StrEnum):
    """The kind of a distraction (`attention.kind`): away at a stretch, or away too much of a window."""

    LONG = "long"
    TIME_SHARING = "time_sharing"


@dataclass(frozen=True)
class Event:
    type: EventType
    ts: float
    before: dict
    after: dict

    def to_dict(self) -> dict:
        return {"type": str(self.type), "ts": round(self.ts, 3), "before": self.before, "after": self.after}


def new_run_id() -> str:
    """Sortable by start time (seconds, hex), unique by 4 random bytes: e.g. `6740c2a1-9f3b02de`."""
    return f"{int(time.time()):x}-{secrets.token_hex(4)}"


class EventNumbering:
    """Gives each event its payload with the next `seq` and this run's id."""

    def __init__(self, run: str | None = None) -> None:
        self.run = run or new_run_id()
        self.last = 0

    def payload(self, event: Event) -> dict:
        self.last += 1
        return {**event.to_dict(), "seq": self.last, "run": self.run}
