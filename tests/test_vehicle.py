"""Vehicle context: alerts gated by speed and gear, on exact frame sequences and end to end through a real broker."""

import json

import paho.mqtt.publish as publish
import pytest
from test_alertness import RATIO, frame, times
from test_daemon_mqtt import CLOSED_FACE, OPEN_FACE

from dmsd.config import AlertnessConfig, StateConfig, VehicleConfig
from dmsd.driver.events import Event, EventType
from dmsd.driver.state import DriverStateTracker
from dmsd.driver.vehicle import AlertGate, VehicleData, VehicleInbox
from dmsd.publish.payloads import event_json as wire
from dmsd.publish.payloads import measure_json
from harness import run_dmsd, write_config


class Clock:
    """Monotonic time the test moves (vehicle data ages by it), beside the frames' own time."""

    def __init__(self):
        self.now = 1000.0


def drive(tracker, gate, clock, frames):
    raised = []
    for f in frames:
        clock.now += 0.1
        raised += gate.filter(tracker.update(f), f.ts, clock.now)
    return raised


def vehicle(inbox, clock, speed, gear="D"):
    inbox.receive("dms/t/vehicle", json.dumps({"speed_kmh": speed, "gear": gear}).encode(), clock.now)


@pytest.fixture
def setup():
    clock = Clock()
    inbox = VehicleInbox()
    tracker = DriverStateTracker(StateConfig(), AlertnessConfig(), eyes=RATIO)  # frames of the mesh's measures alone
    gate = AlertGate(VehicleConfig(max_age_s=30), inbox, started=clock.now)  # the test's messages last a sequence
    assert [e.type for e in drive(tracker, gate, clock, [frame(s) for s in times(0, 5)])] == ["driver_present"]
    return clock, inbox, tracker, gate


def look_away(seconds, start=5.0):
    return [frame(s, yaw=80) for s in times(start, seconds)]


def test_a_distraction_at_5_kmh_raises_none_at_50_raises_one(setup):
    clock, inbox, tracker, gate = setup
    vehicle(inbox, clock, 5)
    assert drive(tracker, gate, clock, look_away(4)) == []
    assert (
        tracker.state.attention is not None and tracker.state.attention.state == "distracted"
    )  # the state still carries the measure
    block = measure_json(gate.block(clock.now))
    assert block["gating"] is True and block["held"] == ["distracted"]
    assert block["held_by"]["distraction"] == "speed 5 km/h, not above 10"

    vehicle(inbox, clock, 50)  # still looking away when the car moves off: raised now
    raised = drive(tracker, gate, clock, look_away(0.5, start=9.0))
    assert [e.type for e in raised] == ["distracted"] and raised[0].ts == 9.0
    assert measure_json(gate.block(clock.now))["held"] == []
    back = drive(tracker, gate, clock, [frame(s) for s in times(9.5, 2.5)])
    assert [e.type for e in back] == ["attentive"]


def test_at_50_kmh_the_distraction_is_raised_at_3_seconds(setup):
    clock, inbox, tracker, gate = setup
    vehicle(inbox, clock, 50)
    raised = drive(tracker, gate, clock, look_away(4))
    assert [(e.type, e.ts) for e in raised] == [("distracted", 8.0)]


def test_a_glance_that_ends_while_held_raises_nothing_not_even_its_all_clear(setup):
    clock, inbox, tracker, gate = setup
    vehicle(inbox, clock, 0, gear="P")
    assert drive(tracker, gate, clock, look_away(4) + [frame(s) for s in times(9.0, 3)]) == []
    vehicle(inbox, clock, 50)
    assert drive(tracker, gate, clock, [frame(s) for s in times(12.0, 1)]) == []
    assert gate.held_total == 1


def test_reverse_gear_holds_distraction_but_not_drowsiness(setup):
    clock, inbox, tracker, gate = setup
    vehicle(inbox, clock, 15, gear="R")
    raised = drive(tracker, gate, clock, [frame(s, ear=0.1, yaw=80) for s in times(5.0, 4)])
    assert "distracted" not in [e.type for e in raised] and "asleep" in [e.type for e in raised]


def test_stale_or_missing_vehicle_data_gates_nothing_and_the_state_says_so(setup):
    clock, inbox, tracker, gate = setup
    assert measure_json(gate.block(clock.now)) == {
        "gating": False,
        "reason": "no vehicle data",
        "held": [],
        "held_total": 0,
    }
    vehicle(inbox, clock, 5)
    clock.now += 31  # older than vehicle.max_age_s
    raised = drive(tracker, gate, clock, look_away(4))
    assert [e.type for e in raised] == ["distracted"]
    block = measure_json(gate.block(clock.now))
    assert block["gating"] is False and block["reason"] == "vehicle data older than 30 s"


def test_seatbelt_alert_waits_for_25_kmh_or_60_seconds():
    from dmsd.driver.events import Event, EventType

    clock, inbox = Clock(), VehicleInbox()
    gate = AlertGate(VehicleConfig(), inbox, started=clock.now)
    unfastened = Event(EventType.SEATBELT_UNFASTENED, 1.0, {"seatbelt": {"worn": True}}, {"seatbelt": {"worn": False}})
    vehicle(inbox, clock, 20)
    assert gate.filter([unfastened], 1.0, clock.now) == []
    assert gate.filter([], 2.0, clock.now + 4) == []  # 20 km/h, 4 s after the start: still held
    vehicle(inbox, clock, 30)
    assert [(e.type, e.ts) for e in gate.filter([], 3.0, clock.now)] == [("seatbelt_unfastened", 3.0)]
    later = AlertGate(VehicleConfig(), inbox, started=clock.now - 61)  # a minute after the start: any speed
    vehicle(inbox, clock, 0)
    assert [e.type for e in later.filter([unfastened], 4.0, clock.now)] == ["seatbelt_unfastened"]


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"fast", "not JSON"),
        (b"[54]", "expected a JSON object"),
        (b'{"gear": "D"}', "speed_kmh must be a number"),
        (b'{"speed_kmh": -3}', "from 0 to 500"),
        (b'{"speed_kmh": "54"}', "speed_kmh must be"),
        (b'{"speed_kmh": 54, "gear": {"x": 1}}', "gear must be text"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_vehicle_messages_are_named(payload, reason):
    with pytest.raises(ValueError, match=reason):
        VehicleData.parse(payload, 0.0)


def closed_eyes_frames(folder):
    """Real faces at 5 frames/s: 5 s open, 4 s closed (asleep at 8.0 s), 1 s open."""
    folder.mkdir()
    for i, face in enumerate([OPEN_FACE] * 25 + [CLOSED_FACE] * 20 + [OPEN_FACE] * 5):
        (folder / f"f{i:03d}.jpg").write_bytes(face.read_bytes())
    return folder


@pytest.mark.parametrize("speed, asleep", [(5, False), (50, True)])
def test_end_to_end_the_vehicle_topic_gates_the_alert(broker, subscribe, tmp_path, speed, asleep):
    device = f"gated-{speed}"
    frames = closed_eyes_frames(tmp_path / "frames")
    sub = subscribe(broker, f"dms/{device}/#")
    for bad in (b"not json", b'{"speed_kmh": "fast"}', b"[1, 2]"):  # a broken bridge: logged once a minute
        publish.single(f"dms/{device}/vehicle", bad, hostname=broker.host, port=broker.port)
    publish.single(
        f"dms/{device}/vehicle",
        json.dumps({"speed_kmh": speed, "gear": "D"}),
        retain=True,
        hostname=broker.host,
        port=broker.port,
    )
    config = write_config(
        tmp_path / "c.yaml", f"device_id: {device}\nsource:\n  fps: 5\n  realtime: true\nvehicle:\n  max_age_s: 60\n"
    )
    try:
        result = run_dmsd("--config", str(config), "--source", str(frames), "--mqtt", broker.address)
        assert result.returncode == 0, result.stderr
        sub.wait_offline()
        types = [e["type"] for e in sub.payloads("events")]
        states = sub.payloads("state")
    finally:
        publish.single(f"dms/{device}/vehicle", b"", retain=True, hostname=broker.host, port=broker.port)
    assert ("asleep" in types) is asleep and ("awake" in types) is asleep
    assert types[0] == "driver_present"
    held = [s["vehicle"]["held"] for s in states]
    if asleep:
        assert all(h == [] for h in held)
    else:
        # held while the eyes were shut; woke while held (these two faces also differ in pose: a glance, held too)
        assert any("asleep" in h for h in held) and "asleep" not in held[-1]
        gated = next(s for s in states if "asleep" in s["vehicle"]["held"])
        assert gated["drowsiness"]["state"] == "asleep" and gated["vehicle"]["speed_kmh"] == 5
        assert gated["vehicle"]["held_by"]["drowsiness"] == "speed 5 km/h, not above 10"
    assert result.stderr.count("ignored a malformed message") <= 1 and "Traceback" not in result.stderr


def test_malformed_vehicle_messages_are_logged_once_a_minute(broker, subscribe, tmp_path):
    """Waits on real signals, not on the clock: the daemon's first state (published after it subscribed to the
    vehicle topic) before sending, and the state that shows the good message after the bad ones."""
    from harness import CLIP, start_dmsd

    config = write_config(tmp_path / "c.yaml", "device_id: bad-bus\n")
    sub = subscribe(broker, "dms/bad-bus/state")
    daemon = start_dmsd("--config", str(config), "--source", str(CLIP), "--realtime", "--mqtt", broker.address)
    try:
        sub.wait_for(lambda m: len(m) >= 1, timeout=60)  # connected and subscribed
        for bad in (b"not json", b'{"speed_kmh": "fast"}', b"[1, 2]", b"\x00" * 100):
            publish.single("dms/bad-bus/vehicle", bad, hostname=broker.host, port=broker.port)
        publish.single("dms/bad-bus/vehicle", b'{"speed_kmh": 30}', hostname=broker.host, port=broker.port)
        sub.wait_for(lambda m: any(json.loads(p)["vehicle"].get("speed_kmh") == 30 for _, p, _ in m), timeout=60)
        assert daemon.poll() is None  # still running
    finally:
        daemon.terminate()
        _, stderr = daemon.communicate(timeout=30)
    assert stderr.count("ignored a malformed message") == 1, stderr
    assert "dms/bad-bus/vehicle: not JSON" in stderr and "Traceback" not in stderr


def test_held_alerts_are_raised_as_they_were_each_one_and_counted():
    """Two lasting alerts held at a standstill: both are raised, with their own before and after, when the car moves
    off; every hold is counted."""
    clock = 1000.0
    inbox = VehicleInbox()
    gate = AlertGate(VehicleConfig(), inbox, started=clock)
    inbox.receive("dms/t/vehicle", b'{"speed_kmh": 0, "gear": "D"}', clock)
    distracted = Event(EventType.DISTRACTED, 1.0, {"attention": "attentive"}, {"attention": "distracted"})
    asleep = Event(EventType.ASLEEP, 1.0, {"drowsiness": "alert"}, {"drowsiness": "asleep", "closed_s": 3.0})
    microsleep = Event(EventType.MICROSLEEP, 1.0, {}, {"duration_s": 1.2})
    assert gate.filter([distracted, asleep, microsleep], 1.0, clock) == []
    assert gate.held_total == 3 and measure_json(gate.block(clock))["held"] == ["asleep", "distracted"]
    inbox.receive("dms/t/vehicle", b'{"speed_kmh": 60, "gear": "D"}', clock)
    raised = gate.filter([], 2.0, clock)
    assert [(e.type, e.ts, wire(e)["before"], wire(e)["after"]) for e in raised] == [
        (EventType.DISTRACTED, 2.0, wire(distracted)["before"], wire(distracted)["after"]),
        (EventType.ASLEEP, 2.0, wire(asleep)["before"], wire(asleep)["after"]),
    ]
    assert measure_json(gate.block(clock))["held"] == [] and gate.held_total == 3


def test_malformed_messages_are_logged_at_most_once_a_minute_with_a_count(caplog):
    inbox = VehicleInbox()
    with caplog.at_level("WARNING", logger="dmsd.driver.vehicle"):
        for now in (0.0, 10.0, 59.9, 60.0, 61.0):
            inbox.receive("dms/t/vehicle", b"not json", now)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "(1 ignored since the last report" in lines[0] and "(3 ignored since the last report" in lines[1]
    assert lines[0].startswith("vehicle: ignored a malformed message on dms/t/vehicle: not JSON")
    inbox.receive("dms/t/vehicle", b'{"speed_kmh": 12}', 62.0)
    assert inbox.latest is not None and inbox.latest.speed_kmh == 12.0 and inbox.latest.received == 62.0


def test_an_all_clear_of_a_held_alert_drops_only_that_alert():
    """In reverse at 50 km/h distraction is held, drowsiness is not: the held distraction's all-clear, in the same
    frame as a microsleep, removes the distraction and raises the microsleep."""
    clock = 1000.0
    inbox = VehicleInbox()
    gate = AlertGate(VehicleConfig(), inbox, started=clock)
    inbox.receive("dms/t/vehicle", b'{"speed_kmh": 50, "gear": "R"}', clock)
    assert gate.filter([Event(EventType.DISTRACTED, 1.0, {}, {})], 1.0, clock) == []
    raised = gate.filter(
        [Event(EventType.ATTENTIVE, 2.0, {}, {}), Event(EventType.MICROSLEEP, 2.0, {}, {})], 2.0, clock
    )
    assert [e.type for e in raised] == ["microsleep"] and gate.pending == {}


def test_the_speed_range_and_the_message_shape():
    assert VehicleData.parse(b'{"speed_kmh": 500}', 0.0).speed_kmh == 500.0
    assert VehicleData.parse(b'{"speed_kmh": 3}', 0.0).gear is None
    for payload, reason in ((b'{"speed_kmh": 500.5}', "from 0 to 500, got 500.5"), (b"[1]", "JSON object, got list")):
        with pytest.raises(ValueError, match=reason):
            VehicleData.parse(payload, 0.0)
    with pytest.raises(ValueError) as long_text:
        VehicleData.parse(b'{"speed_kmh": "' + b"x" * 300 + b'"}', 0.0)
    assert len(str(long_text.value)) == 120  # a log line stays a line
    with pytest.raises(ValueError) as long_gear:
        VehicleData.parse(b'{"speed_kmh": 3, "gear": [' + b"1," * 200 + b"1]}", 0.0)
    assert len(str(long_gear.value)) == 120
