"""Event types are defined once (dmsd.driver.events.EventType): the vehicle gate, the README's tables and Home
Assistant's options all follow from it."""

import json
import re

import pytest

from dmsd.config import VehicleConfig
from dmsd.driver.events import Attention, Drowsiness, Event, EventType, Gate
from dmsd.driver.vehicle import AlertGate, VehicleInbox
from dmsd.publish.homeassistant import discovery_payload
from harness import ROOT


def readme_table(heading: str) -> list[list[str]]:
    """The rows of the README table whose header row starts with `heading`, as lists of cells."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {heading} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            return rows
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_the_readme_lists_every_event_type_once():
    named = [name for row in readme_table("type") for name in re.findall(r"`([a-z_]+)`", row[0])]
    assert sorted(named) == sorted(EventType) and len(named) == len(set(named))


def test_the_readme_gating_table_groups_the_alerts_by_their_gate():
    rows = {frozenset(re.findall(r"`([a-z_]+)`", row[0])): row[2] for row in readme_table("alerts")}
    for gate in Gate:
        alerts = frozenset(str(e) for e in EventType if e.gate is gate)
        assert alerts in rows and f"vehicle.{gate}" in rows[alerts], gate
    assert len(rows) == len(Gate)


def test_alerts_and_their_all_clears_pair_up():
    for alert in EventType:
        if alert.cleared_by is not None:
            assert alert.is_alert and alert.cleared_by.clears is alert and not alert.cleared_by.is_alert
    assert {e.clears for e in EventType if e.clears} == {e for e in EventType if e.cleared_by}


@pytest.mark.parametrize("alert", [e for e in EventType if e.is_alert], ids=str)
def test_the_vehicle_gate_holds_each_alert_at_a_standstill_and_raises_it_at_speed(alert):
    clock = 1000.0
    inbox = VehicleInbox()
    gate = AlertGate(VehicleConfig(), inbox, started=clock)
    event = Event(alert, 1.0, {}, {})
    inbox.receive("dms/t/vehicle", b'{"speed_kmh": 0, "gear": "P"}', clock)
    assert gate.filter([event], 1.0, clock) == []
    inbox.receive("dms/t/vehicle", b'{"speed_kmh": 80, "gear": "D"}', clock)
    # A lasting alert still on when the car moves off is raised then; one of a moment is gone.
    held = [e.type for e in gate.filter([], 2.0, clock)]
    assert held == ([alert] if alert.cleared_by is not None else [])
    assert [e.type for e in gate.filter([event], 3.0, clock)] == [alert]  # at speed, nothing is held


def test_home_assistant_offers_the_states_the_tracker_reports():
    components = discovery_payload("van-7", {"state": "s", "stats": "t", "availability": "a"})["cmps"]
    assert components["van-7_drowsiness"]["options"] == [str(d) for d in Drowsiness]
    assert components["van-7_attention"]["options"] == [str(a) for a in Attention]


def gates_at(speed: float, gear: str | None = "D", since_start: float = 0.0) -> dict:
    """Each gate's reason to hold (None: open) for vehicle data just received, `since_start` s after dmsd started."""
    inbox = VehicleInbox()
    clock = 1000.0
    gate = AlertGate(VehicleConfig(), inbox, started=clock - since_start)
    payload = {"speed_kmh": speed} if gear is None else {"speed_kmh": speed, "gear": gear}
    inbox.receive("dms/t/vehicle", json.dumps(payload).encode(), clock)
    return gate.gates(clock)[0]


@pytest.mark.parametrize("gear", ["P", "R", "N"])
def test_distraction_is_held_in_every_not_forward_gear_at_any_speed(gear):
    """README, "Vehicle context": distracted only above 10 km/h, and not in P, R or N."""
    assert gates_at(80, gear)[Gate.DISTRACTION] == f"gear {gear}"
    assert gates_at(80, gear)[Gate.DROWSINESS] is None  # the gear gates distraction only


@pytest.mark.parametrize(
    "gate, limit",
    [(Gate.DISTRACTION, 10.0), (Gate.DROWSINESS, 10.0), (Gate.SEATBELT, 25.0)],
    ids=str,
)
def test_each_gate_opens_above_its_speed_not_at_it(gate, limit):
    """ "Above 10 km/h" (25 for the seatbelt): at the limit the alert is held, just above it it is raised."""
    assert gates_at(limit)[gate] is not None
    assert gates_at(limit + 0.1)[gate] is None
    assert gates_at(limit, gear=None)[gate] is not None  # the gear is optional


def test_the_seatbelt_gate_opens_60_seconds_after_start_at_any_speed():
    """Japan NCAP's reminder rule: above 25 km/h, or 60 s after dmsd started."""
    assert gates_at(0, since_start=59.9)[Gate.SEATBELT] is not None
    assert gates_at(0, since_start=60.0)[Gate.SEATBELT] is None
    assert gates_at(0, since_start=600.0)[Gate.DROWSINESS] is not None  # time opens the seatbelt's gate alone
