"""Home Assistant MQTT discovery: the device message key by key against Home Assistant's documented schema and the
README's entity table, its templates rendered with Jinja2 (as Home Assistant renders them) on states made here and
on the daemon's real state through a real broker, the re-announce on `homeassistant/status`, and removal."""

import json
import re
import time

import jinja2
import paho.mqtt.publish as publish
import pytest
from test_events import readme_table

from dmsd import __version__
from dmsd.labels import EMOTION_LABELS, PHONE_LABELS
from dmsd.publish.homeassistant import discovery_payload, discovery_topic
from harness import CLIP, run_dmsd, running_dmsd, write_config

# Home Assistant's device-based discovery (MQTT integration docs, "Device discovery payload"): the abbreviations
# it documents for the device and origin maps, and what each platform we use accepts.
DEVICE_KEYS = {"ids", "name", "mf", "mdl", "sw", "hw", "sn", "sa", "cu", "cns", "via_device", "mdl_id"}
ORIGIN_KEYS = {"name", "sw", "url"}
SHARED_KEYS = {
    "dev",
    "o",
    "cmps",
    "state_topic",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "qos",
}
COMMON = {"p", "name", "unique_id", "value_template", "device_class", "entity_category", "state_topic"}
PLATFORM_KEYS = {
    "binary_sensor": COMMON,
    "sensor": COMMON | {"options", "unit_of_measurement", "state_class", "suggested_display_precision"},
}
DEVICE_CLASSES = {"binary_sensor": {"occupancy", "safety", "problem"}, "sensor": {"enum", "duration", None}}


def discovery_messages(sub, topic):
    return [payload for t, payload, _ in sub.messages if t == topic]


def render(template: str, value_json: dict) -> str:
    return jinja2.Environment().from_string(template).render(value_json=value_json).strip()


def check_schema(message: dict) -> dict:
    """Home Assistant's device discovery schema, key by key; the components by their name without the node id."""
    assert set(message) == SHARED_KEYS
    assert set(message["dev"]) <= DEVICE_KEYS and set(message["o"]) <= ORIGIN_KEYS
    components = message["cmps"]
    unique_ids = [c["unique_id"] for c in components.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for key, component in components.items():
        assert set(component) <= PLATFORM_KEYS[component["p"]], key
        assert component.get("device_class") in DEVICE_CLASSES[component["p"]], key
    node = message["dev"]["ids"][0].removeprefix("dmsd_")
    return {key.removeprefix(f"{node}_"): c for key, c in components.items()}


TOPICS = {"state": "dms/van.7/state", "stats": "dms/van.7/stats", "availability": "dms/van.7/availability"}


def test_the_discovery_message_has_the_readme_entities_on_home_assistants_schema():
    message = discovery_payload("Van.7 b/c", TOPICS, "https://example.com/help", phone=True)
    assert discovery_topic("homeassistant", "Van.7 b/c") == "homeassistant/device/Van_7_b_c/config"
    by_name = check_schema(message)
    assert message["dev"] == {
        "ids": ["dmsd_Van_7_b_c"],
        "name": "dmsd Van.7 b/c",
        "mf": "dmsd",
        "mdl": "Driver monitoring system",
        "sw": __version__,
    }
    assert message["o"] == {"name": "dmsd", "sw": __version__, "url": "https://example.com/help"}
    assert (message["state_topic"], message["availability_topic"]) == (TOPICS["state"], TOPICS["availability"])
    assert (message["payload_available"], message["payload_not_available"], message["qos"]) == ("online", "offline", 1)
    assert all(c["unique_id"] == f"dmsd_Van_7_b_c_{name}" for name, c in by_name.items())

    # README, "Home Assistant": each entity's name, platform and class, diagnostic or not, and what it reads.
    rows = readme_table("entity")
    assert len(rows) == len(by_name)
    for name, platform, source in rows:
        component = next(c for c in by_name.values() if c["name"] == re.sub(r" \(only with .*\)$", "", name))
        kinds = platform.split(", ")
        assert component["p"] == kinds[0]
        if len(kinds) > 1 and kinds[1].split(" ")[0] != "diagnostic":
            assert component["device_class"] == kinds[1].split(" ")[0]
        assert (component.get("entity_category") == "diagnostic") == ("diagnostic" in kinds)
        field = source.strip("`").removeprefix("stats.")
        assert f"value_json.{field}" in component["value_template"]
        assert component.get("state_topic", TOPICS["state"]) == (
            TOPICS["stats"] if source == "`stats.fps`" else TOPICS["state"]
        )
    assert by_name["emotion"]["options"] == EMOTION_LABELS and by_name["phone"]["options"] == PHONE_LABELS
    eyes, fps = by_name["eyes_closed"], by_name["fps"]
    assert eyes["unit_of_measurement"] == "s" and eyes["suggested_display_precision"] == 1
    assert fps["unit_of_measurement"] == "fps" and eyes["state_class"] == fps["state_class"] == "measurement"
    plain = discovery_payload("van.7", TOPICS)  # phone use not looked for, no support page
    assert "phone" not in check_schema(plain) and "url" not in plain["o"]


def test_the_templates_read_each_state_and_unknown_as_unknown():
    by_name = check_schema(discovery_payload("van.7", TOPICS, phone=True))
    state = {
        "driver_present": True,
        "seatbelt": {"worn": False},
        "emotion": {"label": "happy"},
        "drowsiness": {"state": "drowsy"},
        "attention": {"state": "distracted"},
        "eyes": {"closed_s": 1.5},
        "phone": {"use": "call"},
        "camera": "ok",
    }
    rendered = {
        name: render(c["value_template"], {"fps": 12.5} if name == "fps" else state) for name, c in by_name.items()
    }
    assert rendered == {
        "driver_present": "ON",
        "seatbelt": "ON",  # on = unfastened
        "emotion": "happy",
        "drowsiness": "drowsy",
        "attention": "distracted",
        "eyes_closed": "1.5",
        "phone": "call",
        "camera": "OFF",
        "fps": "12.5",
    }
    belted = {**state, "driver_present": False, "seatbelt": {"worn": True}}
    assert render(by_name["seatbelt"]["value_template"], belted) == "OFF"
    assert render(by_name["driver_present"]["value_template"], belted) == "OFF"
    # Unknown reads as unknown (Home Assistant's "None"), not as a wrong ON or OFF.
    unknown = dict.fromkeys(state) | {"camera": "lost"}
    rendered = {name: render(c["value_template"], unknown) for name, c in by_name.items() if name != "fps"}
    assert rendered == dict.fromkeys(rendered, "None") | {"camera": "ON"}


def test_discovery_announces_every_entity_on_the_real_state(broker, subscribe, tmp_path):
    sub = subscribe(broker, "#")
    config = write_config(tmp_path / "c.yaml", "device_id: ha-car.1\nmqtt:\n  stats_interval_s: 0.5\n")
    result = run_dmsd("--config", str(config), "--source", str(CLIP), "--mqtt", broker.address)
    assert result.returncode == 0, result.stderr
    sub.wait_offline()
    topic = "homeassistant/device/ha-car_1/config"  # the node id keeps only [a-zA-Z0-9_-]
    sent = discovery_messages(sub, topic)
    assert len(sent) == 1
    message = json.loads(sent[0])
    topics = {name: f"dms/ha-car.1/{name}" for name in ("state", "stats", "availability")}
    assert message == discovery_payload("ha-car.1", topics)  # the message tested key by key above
    by_name = check_schema(message)
    assert len(by_name) == 8  # no phone entity: phone use is not looked for by default

    # Every template, on the daemon's own final state and stats, gives what its entity accepts.
    state = [json.loads(p) for t, p, _ in sub.messages if t == "dms/ha-car.1/state"][-1]
    stats = [json.loads(p) for t, p, _ in sub.messages if t == "dms/ha-car.1/stats"][-1]
    rendered = {name: render(c["value_template"], stats if name == "fps" else state) for name, c in by_name.items()}
    worn = state["seatbelt"]["worn"]
    assert rendered == {
        "driver_present": "ON",
        "seatbelt": "OFF" if worn else "ON",
        "emotion": state["emotion"]["label"],
        "drowsiness": "alert",
        "attention": "attentive",
        "eyes_closed": str(state["eyes"]["closed_s"]),
        "camera": "OFF",
        "fps": str(stats["fps"]),
    }
    assert rendered["emotion"] in by_name["emotion"]["options"]
    # Unknown reads as unknown (Home Assistant's "None"), not as a wrong ON or OFF.
    absent = {**state, "driver_present": None, "seatbelt": None, "emotion": None, "eyes": None, "camera": "lost"}
    assert render(by_name["driver_present"]["value_template"], absent) == "None"
    assert render(by_name["seatbelt"]["value_template"], absent) == "None"
    assert render(by_name["emotion"]["value_template"], absent) == "None"
    assert render(by_name["camera"]["value_template"], absent) == "ON"

    # Retained: a Home Assistant that starts later still finds it.
    late = subscribe(broker, topic)
    late.wait_for(lambda m: len(m) == 1, timeout=10)
    assert late.messages[0][2] is True and json.loads(late.messages[0][1]) == message


def test_discovery_is_sent_again_when_home_assistant_announces_itself(broker, subscribe, tmp_path):
    sub = subscribe(broker, "homeassistant/device/ha-birth/config")
    config = write_config(tmp_path / "c.yaml", "device_id: ha-birth\n")
    with running_dmsd(
        "--config", str(config), "--source", str(CLIP), "--realtime", "--loop", "--mqtt", broker.address
    ) as daemon:
        sub.wait_for(lambda m: len(m) >= 1, timeout=30)
        publish.single("homeassistant/status", "offline", hostname=broker.host, port=broker.port)
        time.sleep(1)
        assert len(sub.messages) == 1  # only `online` asks for it
        publish.single("homeassistant/status", "online", hostname=broker.host, port=broker.port)
        sub.wait_for(lambda m: len(m) >= 2, timeout=10)
        daemon.terminate()
        _, stderr = daemon.communicate(timeout=30)
    assert sub.messages[0][1] == sub.messages[1][1]
    assert "Home Assistant announced itself" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("prefix", ["homeassistant", "ha/discovery"])
def test_disabling_discovery_removes_the_entities(broker, subscribe, tmp_path, prefix):
    topic = f"{prefix}/device/ha-gone/config"
    enabled = write_config(tmp_path / "on.yaml", f"device_id: ha-gone\nhomeassistant:\n  prefix: {prefix}\n")
    assert (
        run_dmsd(
            "--config", str(enabled), "--source", str(CLIP), "--max-frames", "5", "--mqtt", broker.address
        ).returncode
        == 0
    )
    before = subscribe(broker, topic)
    before.wait_for(lambda m: len(m) == 1 and m[0][1], timeout=10)  # the retained announcement
    disabled = write_config(
        tmp_path / "off.yaml", f"device_id: ha-gone\nhomeassistant:\n  enabled: false\n  prefix: {prefix}\n"
    )
    assert (
        run_dmsd(
            "--config", str(disabled), "--source", str(CLIP), "--max-frames", "5", "--mqtt", broker.address
        ).returncode
        == 0
    )
    before.wait_for(lambda m: len(m) == 2, timeout=10)
    assert before.messages[1][1] == b""  # Home Assistant removes a device on an empty config message
    after = subscribe(broker, topic)
    time.sleep(1)
    assert after.messages == []  # and nothing is retained any more


def test_a_bad_discovery_prefix_is_one_line(tmp_path):
    config = write_config(tmp_path / "c.yaml", "homeassistant:\n  prefix: home/#\n")
    result = run_dmsd("--config", str(config), "--once", str(CLIP.parent / "cabin_frame060.jpg"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "homeassistant.prefix: 'home/#' is not a usable MQTT topic prefix" in result.stderr
