"""Configuration: the shipped file, and every kind of bad value named by its key."""

import re
from dataclasses import replace
from pathlib import Path

import pytest

from dmsd.config import Config, MqttConfig, load_config
from dmsd.errors import DmsdError
from harness import ROOT, run_dmsd, write_config
from scripts.config_docs import keys, render_yaml


def test_shipped_config_is_the_defaults():
    """Every key at its default: the detector plugins' sections too, as each plugin reads them."""
    from dmsd.vision.detectors import plugins, settings_of

    shipped = load_config(ROOT / "config.yaml")
    assert replace(shipped, detector=replace(shipped.detector, plugins={})) == Config()
    assert set(shipped.detector.plugins) == {"haar", "blazeface"}
    for plugin in plugins().values():
        assert plugin.settings is not None
        assert settings_of(shipped.detector, plugin.name, plugin.settings) == plugin.settings()


@pytest.mark.parametrize(
    "text, message",
    [
        ("detector:\n  type: mtcnn\n", "detector.type: 'mtcnn' is not allowed (allowed: blazeface, haar)"),
        (
            "detector:\n  fallback: mtcnn\n",
            "detector.fallback: 'mtcnn' is not allowed (allowed: blazeface, haar, none)",
        ),
        ("detector:\n  haar:\n    scale_factor: 5\n", "detector.haar.scale_factor: 5.0 is out of range (1.01..2.0)"),
        (
            "detector:\n  haar:\n    cascad: x.xml\n",
            "unknown key 'detector.haar.cascad' (allowed: cascade, scale_factor",
        ),
        ("detector:\n  blazeface:\n    min_score: high\n", "detector.blazeface.min_score: expected a number"),
        (
            "detector:\n  mtcnn:\n    steps: 3\n",
            "unknown key 'detector.mtcnn' (no detector plugin of that name; plugins: blazeface, haar)",
        ),
        ("detector:\n  haar: 3\n", "unknown key 'detector.haar' (allowed: type, fallback"),
    ],
)
def test_a_detector_plugin_and_its_keys_are_checked_where_the_detectors_are_made(tmp_path, text, message):
    """config.py knows no plugin: the plugins check their own names and keys when the detectors are made, and the
    command line says so in one line."""
    config = write_config(tmp_path / "bad.yaml", text)
    result = run_dmsd("--config", str(config), "--once", str(ROOT / "samples" / "cabin_frame060.jpg"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_config_yaml_is_written_from_the_definition():
    """config.yaml's keys, defaults and comments come from dmsd/config.py alone: rewrite it with
    `python -m scripts.config_docs --write` after changing a key."""
    assert (ROOT / "config.yaml").read_text() == render_yaml()


def test_every_key_at_every_depth_has_its_text():
    """A key without a doc of its own must follow one in its section (a group under one comment)."""
    previous: dict[int, str] = {}
    for key in keys():
        doc = key.field.metadata.get("doc", "")
        parent = key.path.rsplit(".", 1)[0] if "." in key.path else ""
        if not key.section:
            assert doc or previous.get(key.depth, "").startswith(parent), f"{key.path} has no doc"
        previous[key.depth] = key.path
    paths = [key.path for key in keys()]
    assert "chest.from_landmarks" in paths and "detector.haar.cascade" in paths and len(paths) == len(set(paths))


def readme_table_keys() -> set[str]:
    """The keys the README's configuration table names: `a.b`, `.c` (a sibling of the key before) and `a.*`."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        parent = ""
        for name in re.findall(r"`([a-z_.*]+)`", row.split(" | ")[0]):
            full = parent + name if name.startswith(".") else name
            named.add(full.replace("..", "."))
            parent = full.rsplit(".", 1)[0]
    return named


def test_the_readme_table_names_every_key_and_no_other():
    named = readme_table_keys()
    paths = {key.path for key in keys() if not key.section}
    covered = {p for p in paths if p in named or any(p.startswith(n[:-1]) for n in named if n.endswith(".*"))}
    assert paths - covered == set(), "keys missing from the README's configuration table"
    sections = {key.path for key in keys() if key.section}
    unknown = {n for n in named if n not in paths and not (n.endswith(".*") and n[:-2] in sections)}
    assert unknown == set(), "the README's configuration table names keys that do not exist"


def test_a_moved_key_is_named_with_its_new_place(tmp_path):
    path = write_config(tmp_path / "old.yaml", "detector:\n  cascade: x.xml\n")
    with pytest.raises(DmsdError, match=r"unknown key 'detector.cascade' \(moved to detector.haar.cascade\)"):
        load_config(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("mqtt:\n  hots: x\n", "unknown key 'mqtt.hots' (allowed: enabled, host, port"),
        ("mqtt:\n  port: 70000\n", "mqtt.port: 70000 is out of range (1..65535)"),
        ("mqtt:\n  port: abc\n", "mqtt.port: expected an integer, got str 'abc'"),
        ("state:\n  smoothing: 0\n", "state.smoothing: 0.0 is out of range (0.01..1.0)"),
        ("log_level: LOUD\n", "log_level: 'LOUD' is not allowed (allowed: DEBUG, INFO, WARNING, ERROR)"),
        ("detector:\n  seat_side: middle\n", "detector.seat_side: 'middle' is not allowed (allowed: any, left, right)"),
        ("models:\n  emotion:\n    precision: int4\n", "models.emotion.precision: 'int4' is not allowed"),
        ("mqtt: [1, 2]\n", "mqtt: expected a mapping of keys, got list"),
        ("state:\n  include_probs: 1\n", "state.include_probs: expected true or false"),
        (
            "state:\n  seatbelt_worn_above: 0.3\n  seatbelt_unworn_below: 0.5\n",
            "state.seatbelt_unworn_below must not exceed state.seatbelt_worn_above",
        ),
        ("source: {uri: [\n", "not valid YAML"),
        ("landmarks:\n  min_presence: 1.5\n", "landmarks.min_presence: 1.5 is out of range (0.0..1.0)"),
        ("landmarks:\n  enabled: yes please\n", "landmarks.enabled: expected true or false"),
        (
            "landmarks:\n  tracker: true\n",
            "unknown key 'landmarks.tracker' (allowed: enabled, model, path, min_presence, track)",
        ),
        ("mqtt:\n  outbox: ''\n", "mqtt.outbox: an empty path (allowed: a file path, or null for an in-memory queue)"),
        ("mqtt:\n  queue_max_mb: 0\n", "mqtt.queue_max_mb: 0.0 is out of range (0.01..4096)"),
        ("mqtt:\n  topic_prefix: dms/+/x\n", "mqtt.topic_prefix: 'dms/+/x' is not a usable MQTT topic prefix"),
        ("homeassistant:\n  prefix: /ha\n", "homeassistant.prefix: '/ha' is not a usable MQTT topic prefix"),
        (
            "homeassistant:\n  support_url: ftp://x\n",
            "homeassistant.support_url: 'ftp://x' is not allowed (allowed: an http:// or https:// URL, or null)",
        ),
        ("vehicle:\n  not_forward_gears: P\n", "vehicle.not_forward_gears: expected a list, got str 'P'"),
        ("vehicle:\n  not_forward_gears: [P, [R]]\n", "vehicle.not_forward_gears[1]: expected text, got list"),
        ("vehicle:\n  max_age_s: 0\n", "vehicle.max_age_s: 0.0 is out of range (0.1..3600)"),
        ("detector:\n  still_aspects: [0.75, 5]\n", "detector.still_aspects[1]: 5.0 is out of range (0.25..4.0)"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    path = write_config(tmp_path / "bad.yaml", text)
    with pytest.raises(DmsdError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_camera_index_may_be_a_number(tmp_path):
    config = load_config(write_config(tmp_path / "c.yaml", "source:\n  uri: 0\n"))
    assert config.source.uri == "0"


def test_overrides_are_validated_with_the_file(tmp_path):
    """Dotted keys set on the file's mapping before validation: checked by the same validator, an error blamed on the
    option that set the key (else on nothing), never on the file; the file's own errors still name the file."""
    path = write_config(tmp_path / "c.yaml", "mqtt:\n  host: broker\n  keepalive_s: 60\n")
    config = load_config(path, {"mqtt.port": 1884, "source.uri": 0, "log_level": "DEBUG"})
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.keepalive_s) == ("broker", 1884, 60)
    assert config.source.uri == "0" and config.log_level == "DEBUG"
    assert load_config(None, {"mqtt.enabled": False}) == Config(mqtt=MqttConfig(enabled=False))
    with pytest.raises(DmsdError) as named:
        load_config(path, {"mqtt.port": 99999}, {"mqtt.port": "--mqtt"})
    assert str(named.value) == "--mqtt: mqtt.port: 99999 is out of range (1..65535)"
    with pytest.raises(DmsdError) as unnamed:
        load_config(None, {"mqtt.reconnect_min_s": 60.0})
    assert str(unnamed.value) == "mqtt.reconnect_min_s must not exceed mqtt.reconnect_max_s"
    with pytest.raises(DmsdError) as unknown:
        load_config(None, {"mqtt.hots": "x"})
    assert str(unknown.value).startswith("unknown key 'mqtt.hots' (allowed: enabled, host, port")
    bad = write_config(tmp_path / "bad.yaml", "mqtt:\n  keepalive_s: 1\n")
    with pytest.raises(DmsdError) as file_error:
        load_config(bad, {"mqtt.port": 1884}, {"mqtt.port": "--mqtt"})
    assert str(file_error.value) == f"{bad}: mqtt.keepalive_s: 1 is out of range (5..3600)"
    not_a_section = write_config(tmp_path / "list.yaml", "mqtt: [1, 2]\n")
    with pytest.raises(DmsdError, match=r"list.yaml: mqtt: expected a mapping of keys, got list"):
        load_config(not_a_section, {"mqtt.port": 1884})


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    path = write_config(tmp_path / "bad.yaml", "mqtt:\n  port: 70000\n")
    result = run_dmsd("--config", str(path), "--once", str(ROOT / "samples" / "cabin_frame060.jpg"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"dmsd: {path}: mqtt.port: 70000 is out of range (1..65535)"


def test_cli_reports_a_missing_config_file(tmp_path):
    result = run_dmsd("--config", str(tmp_path / "nope.yaml"), "--once", "x.jpg")
    assert result.returncode == 2
    assert "no such configuration file" in result.stderr
    assert "Traceback" not in result.stderr


def test_mqtt_password_from_env_then_file_then_config(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    config = load_config(write_config(tmp_path / "c.yaml", f"mqtt:\n  password: inline\n  password_file: {secret}\n"))
    monkeypatch.delenv("DMSD_MQTT_PASSWORD", raising=False)
    assert config.mqtt.resolve_password() == "from-file"
    monkeypatch.setenv("DMSD_MQTT_PASSWORD", "from-env")
    assert config.mqtt.resolve_password() == "from-env"
    config.mqtt.password_file = str(tmp_path / "missing")
    monkeypatch.delenv("DMSD_MQTT_PASSWORD")
    with pytest.raises(DmsdError, match="mqtt.password_file: cannot read"):
        config.mqtt.resolve_password()
    config.mqtt.password_file = None
    assert config.mqtt.resolve_password() == "inline"


def test_an_evaluators_model_path_replaces_only_that_tasks_file():
    from dmsd.config import ModelsConfig

    models = ModelsConfig()
    mine = models.with_path("phone", "/tmp/my-phone.onnx")
    assert mine.resolve("phone") == Path("/tmp/my-phone.onnx") and models.phone.path is None
    assert mine.resolve("eyes") == models.resolve("eyes") and mine.seatbelt == models.seatbelt
    assert models.with_path("eyes", None) is models
