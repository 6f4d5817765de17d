"""Vehicle context: the speed and gear from `<prefix>/vehicle`, and the gate that holds alerts that do not matter yet.

A distracted glance at 0 km/h in a car park is not an alert. Whatever bridges the vehicle bus publishes JSON such as
`{"speed_kmh": 54, "gear": "D"}`; the gate opens each kind of alert by the practice's rules (vehicle.* config):
distraction above 10 km/h in a forward gear, drowsiness above 10 km/h, the seatbelt above 25 km/h or 60 s after
dmsd started (the ignition). Without fresh vehicle data nothing is gated.

A held alert is not raised as an event, but the state still carries its measure and says which gate holds it. A
held alert that is still on when its gate opens is raised then; one that ends while held is never raised, and
neither is its all-clear.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace

from dmsd.config import VehicleConfig
from dmsd.driver.events import Event, EventType, Gate

log = logging.getLogger(__name__)
REPORT_EVERY_S = 60.0  # a malformed message is logged at most this often, with the count since the last line


@dataclass(frozen=True)
class VehicleData:
    speed_kmh: float
    gear: str | None
    received: float  # time.monotonic() when it arrived

    @classmethod
    def parse(cls, payload: bytes, received: float) -> VehicleData:
        """One vehicle message; ValueError with the reason when it is not one."""
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        speed = data.get("speed_kmh")
        if (
            isinstance(speed, bool)
            or not isinstance(speed, (int, float))
            or not math.isfinite(speed)
            or not 0 <= speed <= 500
        ):
            raise ValueError(f"speed_kmh must be a number from 0 to 500, got {speed!r}"[:120])
        gear = data.get("gear")
        if gear is not None and not isinstance(gear, (str, int)) or isinstance(gear, bool):
            raise ValueError(f"gear must be text or a number, got {gear!r}"[:120])
        return cls(float(speed), None if gear is None else str(gear).upper(), received)


@dataclass(frozen=True)
class VehicleBlock:
    """The state's `vehicle` (its JSON: dmsd.publish.payloads): the latest data and its age (None without data),
    whether it gates alerts (else why not), each closed gate's reason, and the alerts held now and in all."""

    data: VehicleData | None
    age_s: float | None
    gating: bool
    reason: str | None = None
    held_by: dict[Gate, str] = field(default_factory=dict)
    held: tuple[EventType, ...] = ()
    held_total: int = 0


class VehicleInbox:
    """The latest vehicle data, written by the MQTT thread and read by the frame loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: VehicleData | None = None
        self._bad = 0
        self._reported_at: float | None = None

    def receive(self, topic: str, payload: bytes, now: float | None = None) -> None:
        """One message from the vehicle topic; `now` is when it arrived (time.monotonic())."""
        now = time.monotonic() if now is None else now
        try:
            data = VehicleData.parse(payload, now)
        except ValueError as exc:
            self._bad += 1
            if self._reported_at is None or now - self._reported_at >= REPORT_EVERY_S:
                log.warning(
                    "vehicle: ignored a malformed message on %s: %s (%d ignored since the last report; "
                    "reported at most once a minute)",
                    topic,
                    exc,
                    self._bad,
                )
                self._reported_at, self._bad = now, 0
            return
        with self._lock:
            self._latest = data

    @property
    def latest(self) -> VehicleData | None:
        with self._lock:
            return self._latest


class AlertGate:
    """Holds alert events whose gate is closed, raises them if they are still on when it opens."""

    def __init__(self, config: VehicleConfig, inbox: VehicleInbox | None, started: float | None = None):
        self.config, self.inbox = config, inbox
        self.started = time.monotonic() if started is None else started
        self.pending: dict[EventType, Event] = {}  # held lasting alerts, by type
        self.held_total = 0

    def gates(self, clock: float | None = None) -> tuple[dict[Gate, str | None], VehicleBlock]:
        """Each kind's reason to hold (None: open), and the state's `vehicle` block (without what is held)."""
        clock = time.monotonic() if clock is None else clock
        open_all: dict[Gate, str | None] = dict.fromkeys(Gate)
        data = self.inbox.latest if self.inbox is not None and self.config.enabled else None
        if data is None:
            reason = "vehicle.enabled is false" if not self.config.enabled else "no vehicle data"
            return open_all, VehicleBlock(None, None, False, reason)
        age = clock - data.received
        if age > self.config.max_age_s:
            stale = f"vehicle data older than {self.config.max_age_s:g} s"
            return open_all, VehicleBlock(data, age, False, stale)
        c, speed = self.config, data.speed_kmh
        gates = dict(open_all)
        if speed <= c.distraction_min_speed_kmh:
            gates[Gate.DISTRACTION] = f"speed {speed:g} km/h, not above {c.distraction_min_speed_kmh:g}"
        elif data.gear in c.not_forward_gears:
            gates[Gate.DISTRACTION] = f"gear {data.gear}"
        if speed <= c.drowsiness_min_speed_kmh:
            gates[Gate.DROWSINESS] = f"speed {speed:g} km/h, not above {c.drowsiness_min_speed_kmh:g}"
        since_start = clock - self.started
        if speed <= c.seatbelt_min_speed_kmh and since_start < c.seatbelt_after_s:
            gates[Gate.SEATBELT] = (
                f"speed {speed:g} km/h, not above {c.seatbelt_min_speed_kmh:g}, and "
                f"{since_start:.0f} s since start, under {c.seatbelt_after_s:g}"
            )
        closed = {gate: reason for gate, reason in gates.items() if reason is not None}
        return gates, VehicleBlock(data, age, True, None, closed)

    def filter(self, events: list[Event], now: float, clock: float | None = None) -> list[Event]:
        """The events to raise: held alerts whose gate opened (stamped `now`), then this frame's, gated."""
        gates, _ = self.gates(clock)
        out = []
        for kind, event in list(self.pending.items()):
            if kind.gate is not None and gates[kind.gate] is None:
                del self.pending[kind]
                log.info("vehicle: %s gate open, raising the held %s", kind.gate, kind)
                out.append(replace(event, ts=now))
        for event in events:
            cleared = event.type.clears
            if cleared is not None and cleared in self.pending:
                del self.pending[cleared]  # it ended while held: neither it nor its all-clear is raised
                continue
            reason = gates[event.type.gate] if event.type.gate is not None else None
            if reason is not None:
                self.held_total += 1
                log.info("vehicle: held %s (%s)", event.type, reason)
                if event.type.cleared_by is not None:
                    self.pending[event.type] = event
                continue
            out.append(event)
        return out

    def block(self, clock: float | None = None) -> VehicleBlock:
        """The state's `vehicle` block: the data, whether it gates, each closed gate's reason, the alerts held."""
        _, block = self.gates(clock)
        return replace(block, held=tuple(sorted(self.pending)), held_total=self.held_total)

    def key(self) -> tuple:
        """What changes the published state at once: gating on or off, which gates are closed, what is held."""
        gates, block = self.gates()
        return block.gating, tuple(k for k, v in gates.items() if v), tuple(sorted(self.pending))
