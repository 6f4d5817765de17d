"""The JSON a dashboard reads is the README's: each example payload in README.md, "MQTT topics and payloads", is
rebuilt from typed objects (with more digits than the README shows, so the rounding is checked too) and must come
out exactly as printed there."""

import json
import re

import pytest

from dmsd.config import VehicleConfig
from dmsd.driver.alertness import AttentionState, DrowsinessState, EyesState, HeadState
from dmsd.driver.events import (
    Attention,
    Distraction,
    Drowsiness,
    EventNumbering,
    EventType,
    distracted_event,
    driver_present_event,
    seatbelt_event,
)
from dmsd.driver.eye_closure import EyeVerdict
from dmsd.driver.phone import PhoneState
from dmsd.driver.state import DriverState
from dmsd.driver.vehicle import AlertGate, VehicleInbox
from dmsd.publish.payloads import event_payload, measure_json, state_payload
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.face_measures import Eyes, HeadPose
from dmsd.vision.geometry import Box
from dmsd.vision.results import FaceTrack
from dmsd.vision.stages.emotion import EmotionResult
from dmsd.vision.stages.phone import PhoneResult
from dmsd.vision.stages.seatbelt import SeatbeltResult
from harness import ROOT


def readme_examples() -> list[dict]:
    """Every ```json block of the README, parsed."""
    text = (ROOT / "README.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def example(*keys: str) -> dict:
    """The README example whose top-level keys include `keys`."""
    return next(e for e in readme_examples() if set(keys) <= set(e))


def test_the_state_payload_is_the_readme_example():
    shown = example("driver_present", "camera", "seatbelt")
    state = DriverState(
        source="incabin_belted_driver.mp4#149",
        ts=1795260015.24412,
        camera_ok=True,
        driver_present=True,
        face=Box(180, 82, 87, 87),
        track=FaceTrack("mesh"),
        emotion=EmotionResult("neutral", 0.72004, {"neutral": 0.72004, "sad": 0.27996}),
        seatbelt=SeatbeltResult(True, 0.65001),
        latency_ms={"detect": 0.07104, "landmarks": 4.10204, "emotion": 0.57704, "seatbelt": 0.88104, "total": 5.70204},
    )
    payload = state_payload(state)
    assert {k: payload[k] for k in shown} == shown
    unknown = ("eyes", "blendshapes", "head", "attention", "drowsiness", "phone")
    assert all(payload[k] is None for k in unknown) and set(payload) == set(shown) | set(unknown)
    assert state_payload(state, include_probs=True)["emotion"]["probs"] == {"neutral": 0.72, "sad": 0.28}
    assert state_payload(DriverState(camera_ok=False))["camera"] == "lost"


def test_the_alertness_blocks_are_the_readme_example():
    shown = example("eyes", "head", "attention", "drowsiness")
    measured = Eyes(0.23714, 0.27114, p_closed_left=0.00114, p_closed_right=0.00414)
    shapes = FaceShapes(0.11214, 0.11214, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    eyes = EyesState(measured, EyeVerdict.OPEN, 0.98914, 0.00004, 1, 0.00814, shapes)
    head = HeadState(HeadPose(25.614, -7.514, 4.514), 31.114, -6.214, True)
    attention = AttentionState(Attention.ATTENTIVE, None, 0.00004, 0.0, False)
    drowsiness = DrowsinessState(Drowsiness.ALERT, 0.00804, 0)
    built = {
        "eyes": measure_json(eyes),
        "head": measure_json(head),
        "attention": measure_json(attention),
        "drowsiness": measure_json(drowsiness),
    }
    assert built == shown
    assert json.dumps(built) == json.dumps(shown)  # the same key order as documented


def test_blocks_while_something_is_unknown_or_going_on():
    eyes = EyesState(Eyes(0.1, 0.1), EyeVerdict.CLOSED, 0.4, 1.23456, 0, None)  # without the model and blendshapes
    assert measure_json(eyes) == {
        "left": 0.1,
        "right": 0.1,
        "closed": True,
        "verdict": "closed",
        "openness": 0.4,
        "closed_s": 1.23,
        "blinks": 0,
        "perclos": None,
    }
    half = EyesState(Eyes(0.3, 0.3, 0.5, None), EyeVerdict.OPEN, 1.0, 0.0, 0, None)  # both probabilities or none
    assert "p_closed" not in measure_json(half)
    unseen = measure_json(EyesState(Eyes(0.3, 0.3), EyeVerdict.UNSEEN, 1.0, 0.0, 0, None))  # behind sunglasses
    assert unseen["verdict"] == "unseen" and unseen["closed"] is False
    distracted = AttentionState(Attention.DISTRACTED, Distraction.TIME_SHARING, 3.14159, 10.04321, True)
    assert measure_json(distracted) == {
        "state": "distracted",
        "kind": "time_sharing",
        "away_s": 3.14,
        "away_in_window_s": 10.04,
        "unresponsive": True,
    }
    assert measure_json(HeadState(HeadPose(1.0, 2.0, 3.0), 0.0, 0.0, None))["on_road"] is None
    assert measure_json(DrowsinessState(Drowsiness.DROWSY, None, 3)) == {
        "state": "drowsy",
        "perclos": None,
        "microsleeps": 3,
    }


def test_the_vehicle_block_is_the_readme_example():
    shown = example("vehicle")["vehicle"]
    clock = 5000.0
    inbox = VehicleInbox()
    gate = AlertGate(VehicleConfig(), inbox, started=clock - 12.3)
    inbox.receive("dms/v/vehicle", b'{"speed_kmh": 5, "gear": "d"}', clock - 0.4)
    assert gate.filter([distracted_event(1.0, Distraction.LONG, 3.0, 3.0)], 1.0, clock) == []
    assert measure_json(gate.block(clock)) == shown


def test_the_vehicle_block_without_data_old_data_or_the_topic():
    clock = 5000.0
    inbox = VehicleInbox()
    gate = AlertGate(VehicleConfig(), inbox, started=clock)
    assert measure_json(gate.block(clock)) == {
        "gating": False,
        "reason": "no vehicle data",
        "held": [],
        "held_total": 0,
    }
    inbox.receive("dms/v/vehicle", b'{"speed_kmh": 80.44, "gear": "D"}', clock - 5.0)
    fresh = measure_json(gate.block(clock))  # exactly max_age_s (5 s) old: still fresh
    assert fresh["gating"] is True and json.dumps(fresh["speed_kmh"]) == "80.4" and fresh["age_s"] == 5.0
    assert fresh["held_by"] == {}
    stale = measure_json(gate.block(clock + 0.01))
    assert stale == {
        "speed_kmh": 80.4,
        "gear": "D",
        "age_s": 5.0,
        "gating": False,
        "reason": "vehicle data older than 5 s",
        "held": [],
        "held_total": 0,
    }
    off = AlertGate(VehicleConfig(enabled=False), inbox, started=clock)
    assert measure_json(off.block(clock)) == {
        "gating": False,
        "reason": "vehicle.enabled is false",
        "held": [],
        "held_total": 0,
    }
    assert measure_json(AlertGate(VehicleConfig(), None, started=clock).block(clock))["reason"] == "no vehicle data"


def test_an_event_payload_is_the_readme_example():
    shown = example("type", "seq", "run")
    numbering = EventNumbering(shown["run"])
    for seq in (1, 2):
        assert event_payload(driver_present_event(1.0, None), numbering.next(), numbering.run)["seq"] == seq
    fastened = seatbelt_event(1795259996.17214, None, SeatbeltResult(True, 0.650904))
    assert fastened.type is EventType.SEATBELT_FASTENED
    payload = event_payload(fastened, numbering.next(), numbering.run)
    assert payload == shown and json.dumps(payload) == json.dumps(shown)


def test_a_new_run_id_is_its_start_time_and_four_random_bytes():
    first, second = EventNumbering().run, EventNumbering().run
    assert re.fullmatch(r"[0-9a-f]{8,}-[0-9a-f]{8}", first) and first != second


@pytest.mark.parametrize("block", [PhoneResult("call", 0.930041, {}), PhoneState("call", 0.930041)])
def test_the_phone_block_is_the_readme_example(block):
    documented = re.search(r'`(\{"use": "call", "confidence": 0\.93\})`', (ROOT / "README.md").read_text())
    assert documented is not None and measure_json(block) == json.loads(documented.group(1))


def test_without_a_clock_given_the_gate_uses_the_monotonic_clock():
    """The daemon passes no times: a message just received is fresh and gates at once; the key changes with it."""
    inbox = VehicleInbox()
    gate = AlertGate(VehicleConfig(), inbox)
    before = gate.key()
    inbox.receive("dms/v/vehicle", b'{"speed_kmh": 0}')
    block = measure_json(gate.block())
    assert block["gating"] is True and block["age_s"] == 0.0 and block["gear"] is None
    assert "seatbelt" in block["held_by"] and gate.key() != before
    assert gate.key() == (True, ("distraction", "drowsiness", "seatbelt"), ())
