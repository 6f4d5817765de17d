"""The daemon end to end against a real Mosquitto broker and a real subscriber."""

import json
import shutil
import signal
import time

import pytest

from dmsd.driver.events import EventType
from harness import CLIP, SAMPLES, SHARED, LineReader, Subscriber, run_dmsd, running_dmsd, secured_broker, write_config


def printed(stdout: str, suffix: str) -> list:
    out = []
    for line in stdout.splitlines():
        record = json.loads(line)
        if record["topic"].endswith("/" + suffix):
            out.append(record["payload"])
    return out


def test_clip_end_to_end(broker, subscribe, tmp_path):
    sub = subscribe(broker, "dms/e2e-car/#")
    config = write_config(
        tmp_path / "c.yaml", "device_id: e2e-car\nstate:\n  heartbeat_s: 1\nmqtt:\n  stats_interval_s: 0.5\n"
    )
    result = run_dmsd("--config", str(config), "--source", str(CLIP), "--mqtt", broker.address, "--print")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    sub.wait_offline()

    # availability: online first, offline last (retention is checked by the late subscriber below)
    assert sub.payloads("availability")[0] == "online"
    assert sub.payloads("availability")[-1] == "offline"

    # events: exactly what the daemon raised, in order, once each, all of known types
    events = sub.payloads("events")
    assert events == printed(result.stdout, "events")
    assert events and events[0]["type"] == "driver_present"
    assert {e["type"] for e in events} <= set(EventType)
    assert any(e["type"] == "emotion_changed" for e in events)
    # The driver is belted throughout: fastened once, never unfastened (model card: 0 unfastened events on the clip).
    belt = [e["type"] for e in events if e["type"].startswith("seatbelt_")]
    assert belt == ["seatbelt_fastened"]
    assert next(e for e in events if e["type"] == "seatbelt_fastened")["after"]["seatbelt"]["worn"] is True
    # An attentive driver, eyes open, looking ahead (from a camera off to the side): no alertness alarm.
    assert not {"asleep", "drowsy", "unresponsive", "microsleep", "distracted"} & {e["type"] for e in events}
    for event in events:
        assert set(event) == {"type", "ts", "before", "after", "seq", "run"}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["run"] for e in events}) == 1
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts)

    # state: retained, the per-image shape plus presence and camera, no probs by default
    states = sub.payloads("state")
    final = states[-1]
    assert final["driver_present"] is True and final["camera"] == "ok"
    assert len(final["face"]["box"]) == 4
    assert set(final["emotion"]) == {"label", "confidence"}
    assert isinstance(final["seatbelt"]["worn"], bool)
    assert final["attention"]["state"] == "attentive" and final["drowsiness"]["state"] == "alert"
    assert 20 < final["head"]["forward"]["yaw"] < 45 and final["head"]["on_road"] is True
    assert final["eyes"]["closed"] is False
    assert final == printed(result.stdout, "state")[-1]

    # stats: frames per second, per-stage p50/p99, drops, uptime, version
    stats = sub.payloads("stats")
    last = stats[-1]
    assert last["frames"] == 150 and last["dropped_frames"] == 0
    assert last["frames_with_face"] / last["frames"] >= 0.9  # the face is found in at least 90% of frames
    assert set(last["latency_ms"]) == {"detect", "landmarks", "emotion", "seatbelt", "eyes", "blendshapes", "total"}
    assert all(v["p99"] >= v["p50"] > 0 for v in last["latency_ms"].values())
    assert any(s["fps"] > 0 for s in stats) and last["version"]

    # retained: a dashboard that connects afterwards still sees the last state and that we are offline
    late = subscribe(broker, "dms/e2e-car/#")
    late.wait_for(lambda m: {t.rsplit("/", 1)[1] for t, _, _ in m} >= {"state", "availability"}, timeout=10)
    assert all(r for _, _, r in late.messages)
    assert late.payloads("availability") == ["offline"]
    assert late.payloads("state")[-1] == final


def alternating_frames(folder, seconds_each: float, fps: float, cycles: int):
    """Image files: the driver for `seconds_each`, then an empty seat, repeated, named in order."""
    folder.mkdir()
    per_phase = round(seconds_each * fps)
    n = 0
    for _ in range(cycles):
        for image in ("cabin_frame060.jpg", "cabin_noface.jpg"):
            for _ in range(per_phase):
                shutil.copy(SAMPLES / image, folder / f"{n:04d}.jpg")
                n += 1
    return folder


def test_events_survive_a_broker_restart(own_broker, subscribe, tmp_path):
    frames = alternating_frames(tmp_path / "frames", seconds_each=1.5, fps=5, cycles=6)  # 18 s, an event each 1.5 s
    config = write_config(
        tmp_path / "c.yaml",
        (
            "device_id: restart-car\nsource:\n  fps: 5\n  realtime: true\n"
            "state:\n  absent_after_s: 0.8\n  emotion_hold_s: 0.2\n  seatbelt_debounce_s: 0.2\n"
            "mqtt:\n  reconnect_min_s: 1\n  reconnect_max_s: 1\n  drain_timeout_s: 20\n"
        ),
    )
    sub = subscribe(own_broker, "dms/restart-car/#")
    discovery = subscribe(own_broker, "homeassistant/device/restart-car/config")
    with running_dmsd(
        "--config", str(config), "--source", str(frames), "--mqtt", own_broker.address, "--print"
    ) as daemon:
        sub.wait_for(lambda m: sum(t.endswith("/events") for t, _, _ in m) >= 2, timeout=30)
        # Stop the broker between events, not in the middle of a PUBACK: QoS 1 itself may redeliver a message
        # whose acknowledgement was cut off (that is what `seq` is for); our queue must add no duplicates.
        time.sleep(0.5)
        own_broker.stop()
        down_from = time.time()
        time.sleep(5)  # several driver_absent / driver_present events are raised while the broker is down
        down_to = time.time()
        own_broker.start()
        stdout, stderr = daemon.communicate(timeout=90)
    assert daemon.returncode == 0, stderr
    sub.wait_offline()
    raised = printed(stdout, "events")
    while_down = [e for e in raised if down_from + 0.3 < e["ts"] < down_to - 0.3]
    assert len(while_down) >= 2, raised
    received = sub.payloads("events")
    assert received == raised, "\n".join(
        ["raised:"]
        + [f"{e['ts']} {e['type']}" for e in raised]
        + ["received:"]
        + [f"{e['ts']} {e['type']}" for e in received]
        + [f"down {down_from} .. {down_to}"]
    )
    assert [e["seq"] for e in received] == list(range(1, len(raised) + 1))  # each once, in order
    assert "disconnected" in stderr and "connected to" in stderr
    # On the reconnect, availability, the discovery message and the state were published again: the state before
    # any event that waited in the outbox (it is sent before the events start flowing again).
    restarts = [i for i, (t, p, _) in enumerate(sub.messages) if t.endswith("/availability") and p == b"online"]
    assert len(restarts) >= 2
    after = [t.rsplit("/", 1)[1] for t, _, _ in sub.messages[restarts[1] + 1 :]]
    assert "state" in after and after.index("state") < after.index("events"), after[:5]
    # one on each connect, sent afresh (not the retained copy the broker hands the listener as it subscribes again)
    assert len([p for _, p, retained in discovery.messages if p and not retained]) >= 2


def test_sigterm_publishes_final_state_and_offline(broker, subscribe, tmp_path):
    sub = subscribe(broker, "dms/term-car/#")
    config = write_config(tmp_path / "c.yaml", "device_id: term-car\n")
    with running_dmsd("--config", str(config), "--source", str(CLIP), "--realtime", "--mqtt", broker.address) as daemon:
        sub.wait_for(lambda m: any(t.endswith("/state") for t, _, _ in m), timeout=30)
        time.sleep(1)
        daemon.send_signal(signal.SIGTERM)
        stdout, stderr = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, stderr
    assert "received SIGTERM, stopping" in stderr and "Traceback" not in stderr
    sub.wait_offline()
    assert sub.payloads("state")[-1]["driver_present"] is True


def test_unreachable_broker_is_retried_and_reported(tmp_path):
    from harness import free_port

    config = write_config(tmp_path / "c.yaml", "mqtt:\n  drain_timeout_s: 1\n  reconnect_max_s: 1\n")
    result = run_dmsd(
        "--config", str(config), "--source", str(CLIP), "--max-frames", "30", "--mqtt", f"127.0.0.1:{free_port()}"
    )
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert result.stderr.count("cannot reach broker") == 1  # logged once, retried quietly
    assert "Connection refused" in result.stderr
    assert "event(s) not delivered" in result.stderr


@pytest.fixture
def password_broker(tmp_path):
    workdir = tmp_path / "auth-broker"
    workdir.mkdir()
    b = secured_broker(workdir, users={"dash": "s3cret"}).start()
    yield b
    b.stop()


def test_refused_credentials_are_reported_and_never_logged(password_broker, tmp_path):
    config = write_config(tmp_path / "c.yaml", "mqtt:\n  username: dash\n  drain_timeout_s: 1\n")
    result = run_dmsd(
        "--config",
        str(config),
        "--source",
        str(CLIP),
        "--max-frames",
        "20",
        "--mqtt",
        password_broker.address,
        env={"DMSD_MQTT_PASSWORD": "wrong-password"},
    )
    assert result.returncode == 0
    assert "refused the connection" in result.stderr and "Traceback" not in result.stderr
    assert "wrong-password" not in result.stderr + result.stdout


def test_credentials_from_the_environment_work(password_broker, tmp_path):
    config = write_config(tmp_path / "c.yaml", "device_id: auth-car\nmqtt:\n  username: dash\n")
    with Subscriber(password_broker, "dms/auth-car/events", username="dash", password="s3cret") as dashboard:
        result = run_dmsd(
            "--config",
            str(config),
            "--source",
            str(CLIP),
            "--max-frames",
            "40",
            "--print",
            "--mqtt",
            password_broker.address,
            env={"DMSD_MQTT_PASSWORD": "s3cret"},
        )
        expected = printed(result.stdout, "events")
        received = dashboard.wait_for_events(len(expected))
    assert result.returncode == 0, result.stderr
    assert expected and received == expected
    assert "s3cret" not in result.stderr


def test_full_queue_drops_the_oldest_counts_and_logs(own_broker, subscribe, tmp_path):
    frames = alternating_frames(tmp_path / "frames", seconds_each=1.0, fps=5, cycles=4)  # ~8 events in 8 s
    config = write_config(
        tmp_path / "c.yaml",
        (
            "device_id: full-car\nsource:\n  fps: 5\n  realtime: true\n"
            "state:\n  absent_after_s: 0.5\n  emotion_hold_s: 0.2\n  seatbelt_debounce_s: 0.2\n"
            "mqtt:\n  queue_size: 2\n  reconnect_min_s: 1\n  reconnect_max_s: 1\n  drain_timeout_s: 20\n"
            "  stats_interval_s: 0.5\n"
        ),
    )
    sub = subscribe(own_broker, "dms/full-car/#")  # a persistent session: the broker keeps it across the restart
    own_broker.stop()
    with running_dmsd(
        "--config", str(config), "--source", str(frames), "--mqtt", own_broker.address, "--print"
    ) as daemon:
        lines = LineReader(daemon)
        # The whole source plays while the broker is down: wait for its end (the final state and stats are printed
        # as the daemon closes; it then waits for the broker to drain its outbox), however slowly it starts.
        total = len(list(frames.iterdir()))

        def played(seen: list[str]) -> bool:
            stats = printed("\n".join(seen), "stats")
            return bool(stats) and stats[-1]["frames"] == total

        lines.wait(played, timeout=120)
        own_broker.start()
        stdout = "\n".join(lines.finish())
        stderr = daemon.stderr.read()
        daemon.wait(timeout=60)
    assert daemon.returncode == 0, stderr
    raised = printed(stdout, "events")
    assert len(raised) >= 5
    sub.wait_for(lambda m: sum(t.endswith("/events") for t, _, _ in m) >= 2, timeout=20)
    time.sleep(1)
    received = sub.payloads("events")
    assert received == raised[-2:]  # the newest two, in order; the oldest went first
    dropped = len(raised) - 2
    assert stderr.count("dropped the oldest event") == dropped
    assert printed(stdout, "stats")[-1]["events_dropped"] == dropped


EYES = SHARED / "eyes" / "roboflow_eye_detector" / "images" / "valid"
OPEN_FACE = EYES / "open_-58-_jpg.rf.ed287b41b44fbfbf4e5f13cc65c1b1ad.jpg"  # both 183x275, faces found by the pipeline
CLOSED_FACE = EYES / "closed_-223-_jpg.rf.c96fee6a2ce442c948bac2ace6caf7cd.jpg"


def test_eyes_held_shut_for_4_seconds_is_one_asleep_at_3_seconds(broker, subscribe, tmp_path):
    """Real faces as a camera at 5 frames/s: 5 s of open eyes (the driver's baseline), 4 s of a closed-eyes face,
    1 s open again. Exactly one asleep, 3.0 s into the closure, then awake; published through a real broker."""
    frames = tmp_path / "frames"
    frames.mkdir()
    sequence = [OPEN_FACE] * 25 + [CLOSED_FACE] * 20 + [OPEN_FACE] * 5
    for i, face in enumerate(sequence):
        (frames / f"f{i:03d}.jpg").write_bytes(face.read_bytes())
    sub = subscribe(broker, "dms/sleepy/#")
    config = write_config(tmp_path / "c.yaml", "device_id: sleepy\nsource:\n  fps: 5\n")
    result = run_dmsd("--config", str(config), "--source", str(frames), "--mqtt", broker.address)
    assert result.returncode == 0, result.stderr
    sub.wait_offline()
    events = sub.payloads("events")
    start = next(e["ts"] for e in events if e["type"] == "driver_present")
    alertness = [
        (e["type"], round(e["ts"] - start, 2))
        for e in events
        if e["type"] in ("asleep", "awake", "microsleep", "drowsy", "unresponsive")
    ]
    # The closure starts at frame 25 (5.0 s): asleep at 8.0 s, awake at 9.0 s when the eyes open again.
    assert alertness[:2] == [("asleep", 8.0), ("awake", 9.0)]
    assert [kind for kind, _ in alertness].count("asleep") == 1
    asleep = next(e for e in events if e["type"] == "asleep")
    assert asleep["after"] == {"drowsiness": "asleep", "closed_s": 3.0}
