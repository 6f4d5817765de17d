"""Events: what changed about the driver or the camera, and their numbering.

Every event published carries `seq`, counted from 1 in the order events happen, and `run`, this daemon run's
own id: (`run`, `seq`) is unique across restarts, so a consumer can drop the repeats QoS 1 may deliver, also those
an earlier run's outbox resends (README.md, "MQTT").
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

EVENT_TYPES = (
    "emotion_changed",
    "seatbelt_unfastened",
    "seatbelt_fastened",
    "driver_absent",
    "driver_present",
    "camera_lost",
    "camera_restored",
    "microsleep",
    "asleep",
    "awake",
    "drowsy",
    "alert",
    "distracted",
    "attentive",
    "unresponsive",
    "yawn",
)


@dataclass(frozen=True)
class Event:
    type: str
    ts: float
    before: dict
    after: dict

    def to_dict(self) -> dict:
        return {"type": self.type, "ts": round(self.ts, 3), "before": self.before, "after": self.after}


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
