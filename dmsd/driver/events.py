"""Events: what changed about the driver or the camera, every kind of them in one place, and their numbering.

`EventType` is the one list of event types. Each alert carries its gate (the vehicle context that may hold it back,
dmsd.driver.vehicle) and, if it lasts, the event that clears it; the README's event and gating tables, the vehicle
gate and the tests all derive from it.

Each kind is built by one function here (`asleep_event`, ...), whose `before` and `after` are typed (the TypedDicts
below) and hold the measures as measured: their JSON, rounded for reading, is written by dmsd.publish.payloads.

Every event published carries `seq`, counted from 1 in the order events happen, and `run`, this daemon run's
own id: (`run`, `seq`) is unique across restarts, so a consumer can drop the repeats QoS 1 may deliver, also those
an earlier run's outbox resends (README.md, "MQTT").
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:
    from dmsd.vision.stages.seatbelt import SeatbeltResult


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


class CameraHealth(StrEnum):
    """The state's and the camera events' `camera`."""

    OK = "ok"
    LOST = "lost"

    @classmethod
    def of(cls, healthy: bool) -> CameraHealth:
        return cls.OK if healthy else cls.LOST


# The typed sides of events: one shape per kind of `before` or `after` (the README's event table shows each).
class Nothing(TypedDict):
    pass


class Presence(TypedDict):
    driver_present: bool | None


class Camera(TypedDict):
    camera: CameraHealth


class EmotionWas(TypedDict):
    emotion: str | None


class EmotionNow(TypedDict):
    emotion: str
    confidence: float


class Worn(TypedDict):
    worn: bool


class BeltWas(TypedDict):
    seatbelt: Worn | None


class BeltNow(TypedDict):
    seatbelt: SeatbeltResult


class DrowsinessWas(TypedDict):
    drowsiness: Drowsiness | None


class Sleep(TypedDict):
    drowsiness: Drowsiness | None
    closed_s: float


class DrowsinessLevel(TypedDict):
    drowsiness: Drowsiness
    perclos: float | None
    microsleeps: int


class Duration(TypedDict):
    duration_s: float


class AttentionNow(TypedDict):
    attention: Attention


class AttentionWas(TypedDict):
    attention: Attention
    kind: Distraction


class Distracted(TypedDict):
    attention: Attention
    kind: Distraction
    away_s: float
    away_in_window_s: float


class Unresponsive(TypedDict):
    eyes_closed: bool
    away: bool
    for_s: float


class PhoneNone(TypedDict):
    phone: Literal["none"]


class PhoneWas(TypedDict):
    phone: Literal["in_use"]
    kind: str


class PhoneInUse(TypedDict):
    phone: Literal["in_use"]
    kind: str
    confidence: float


Side = (
    Nothing
    | Presence
    | Camera
    | EmotionWas
    | EmotionNow
    | BeltWas
    | BeltNow
    | DrowsinessWas
    | Sleep
    | DrowsinessLevel
    | Duration
    | AttentionNow
    | AttentionWas
    | Distracted
    | Unresponsive
    | PhoneNone
    | PhoneWas
    | PhoneInUse
)


@dataclass(frozen=True)
class Event:
    type: EventType
    ts: float
    before: Side
    after: Side


# One function per kind of event: the only places an Event is made.
def driver_present_event(now: float, was: bool | None) -> Event:
    return Event(EventType.DRIVER_PRESENT, now, Presence(driver_present=was), Presence(driver_present=True))


def driver_absent_event(now: float, was: bool | None) -> Event:
    return Event(EventType.DRIVER_ABSENT, now, Presence(driver_present=was), Presence(driver_present=False))


def camera_event(now: float, healthy: bool) -> Event:
    """camera_restored when the camera is healthy again, camera_lost when it is not."""
    kind = EventType.CAMERA_RESTORED if healthy else EventType.CAMERA_LOST
    return Event(kind, now, Camera(camera=CameraHealth.of(not healthy)), Camera(camera=CameraHealth.of(healthy)))


def emotion_changed_event(now: float, was: str | None, emotion: str, confidence: float) -> Event:
    after = EmotionNow(emotion=emotion, confidence=confidence)
    return Event(EventType.EMOTION_CHANGED, now, EmotionWas(emotion=was), after)


def seatbelt_event(now: float, was: bool | None, belt: SeatbeltResult) -> Event:
    """seatbelt_fastened or seatbelt_unfastened, as `belt` (the verdict now held) says."""
    kind = EventType.SEATBELT_FASTENED if belt.worn else EventType.SEATBELT_UNFASTENED
    return Event(kind, now, BeltWas(seatbelt=None if was is None else Worn(worn=was)), BeltNow(seatbelt=belt))


def asleep_event(now: float, was: Drowsiness | None, closed_s: float) -> Event:
    after = Sleep(drowsiness=Drowsiness.ASLEEP, closed_s=closed_s)
    return Event(EventType.ASLEEP, now, DrowsinessWas(drowsiness=was), after)


def awake_event(now: float, level: Drowsiness | None, closed_s: float) -> Event:
    before = DrowsinessWas(drowsiness=Drowsiness.ASLEEP)
    return Event(EventType.AWAKE, now, before, Sleep(drowsiness=level, closed_s=closed_s))


def microsleep_event(now: float, duration_s: float) -> Event:
    return Event(EventType.MICROSLEEP, now, Nothing(), Duration(duration_s=duration_s))


def drowsy_event(now: float, perclos: float | None, microsleeps: int) -> Event:
    after = DrowsinessLevel(drowsiness=Drowsiness.DROWSY, perclos=perclos, microsleeps=microsleeps)
    return Event(EventType.DROWSY, now, DrowsinessWas(drowsiness=Drowsiness.ALERT), after)


def alert_event(now: float, perclos: float | None, microsleeps: int) -> Event:
    after = DrowsinessLevel(drowsiness=Drowsiness.ALERT, perclos=perclos, microsleeps=microsleeps)
    return Event(EventType.ALERT, now, DrowsinessWas(drowsiness=Drowsiness.DROWSY), after)


def distracted_event(now: float, kind: Distraction, away_s: float, away_in_window_s: float) -> Event:
    after = Distracted(attention=Attention.DISTRACTED, kind=kind, away_s=away_s, away_in_window_s=away_in_window_s)
    return Event(EventType.DISTRACTED, now, AttentionNow(attention=Attention.ATTENTIVE), after)


def attentive_event(now: float, kind: Distraction) -> Event:
    before = AttentionWas(attention=Attention.DISTRACTED, kind=kind)
    return Event(EventType.ATTENTIVE, now, before, AttentionNow(attention=Attention.ATTENTIVE))


def unresponsive_event(now: float, eyes_closed: bool, away: bool, for_s: float) -> Event:
    after = Unresponsive(eyes_closed=eyes_closed, away=away, for_s=for_s)
    return Event(EventType.UNRESPONSIVE, now, Nothing(), after)


def yawn_event(now: float, duration_s: float) -> Event:
    return Event(EventType.YAWN, now, Nothing(), Duration(duration_s=duration_s))


def phone_use_event(now: float, kind: str, confidence: float) -> Event:
    after = PhoneInUse(phone="in_use", kind=kind, confidence=confidence)
    return Event(EventType.PHONE_USE, now, PhoneNone(phone="none"), after)


def phone_down_event(now: float, kind: str) -> Event:
    return Event(EventType.PHONE_DOWN, now, PhoneWas(phone="in_use", kind=kind), PhoneNone(phone="none"))


def new_run_id() -> str:
    """Sortable by start time (seconds, hex), unique by 4 random bytes: e.g. `6740c2a1-9f3b02de`."""
    return f"{int(time.time()):x}-{secrets.token_hex(4)}"


class EventNumbering:
    """Gives each event the next `seq` of this run (its payload: dmsd.publish.payloads.event_payload)."""

    def __init__(self, run: str | None = None) -> None:
        self.run = run or new_run_id()
        self.last = 0

    def next(self) -> int:
        self.last += 1
        return self.last
