"""Events: what changed about the driver or the camera, and their numbering.

Every event published carries `seq`, counted from 1 in the order events happen, so a consumer can drop the
repeats QoS 1 may deliver (README.md, "MQTT").
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TYPES = ("emotion_changed", "seatbelt_unfastened", "seatbelt_fastened", "driver_absent", "driver_present",
               "camera_lost", "camera_restored", "microsleep", "asleep", "awake", "drowsy", "alert", "distracted",
               "attentive", "unresponsive", "yawn")


@dataclass(frozen=True)
class Event:
    type: str
    ts: float
    before: dict
    after: dict

    def to_dict(self) -> dict:
        return {"type": self.type, "ts": round(self.ts, 3), "before": self.before, "after": self.after}


class EventNumbering:
    """Gives each event its payload with the next `seq`."""

    def __init__(self) -> None:
        self.last = 0

    def payload(self, event: Event) -> dict:
        self.last += 1
        return {**event.to_dict(), "seq": self.last}
