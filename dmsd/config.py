"""Configuration: typed dataclasses, loaded from YAML and validated, apart from the code that uses them.

Every error names the key and what it allows, e.g.
    config.yaml: mqtt.port: 70000 is out of range (1..65535)
"""

from __future__ import annotations

import dataclasses
import os
import socket
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from dmsd.errors import DmsdError

SEARCH_PATH = (Path("config.yaml"), Path("/etc/dmsd/config.yaml"))
CHECKOUT = Path(__file__).resolve().parent.parent  # the source tree, when dmsd runs from one
T = TypeVar("T")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _opt(
    default: object,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    doc: str = "",
) -> Any:
    """A field with its allowed values recorded for validation; `choices` may be a function asked at load time."""
    metadata = {"low": low, "high": high, "choices": choices, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def detector_types() -> tuple[str, ...]:
    """`detector.type`'s allowed values: the face detector plugins registered in dmsd/vision/detectors/."""
    from dmsd.vision.detectors import detector_types as registered  # imported late: the plugins import this module

    return registered()


@dataclass
class SourceConfig:
    uri: str = _opt("0", doc="camera index, /dev/videoN, video file, rtsp:// or http(s):// URL, image directory")
    width: int | None = _opt(None, low=16, high=8192)
    height: int | None = _opt(None, low=16, high=8192)
    fps: float | None = _opt(None, low=0.1, high=240)
    stall_timeout_s: float = _opt(3.0, low=0.1, high=600)
    reopen_min_s: float = _opt(0.5, low=0.01, high=600)
    reopen_max_s: float = _opt(30.0, low=0.01, high=3600)
    realtime: bool = _opt(False)
    loop: bool = _opt(False)


@dataclass
class DetectorConfig:
    type: str = _opt("haar", choices=detector_types)
    cascade: str = _opt("haarcascade_frontalface_default.xml")
    detect_width: int = _opt(320, low=64, high=4096)
    scale_factor: float = _opt(1.1, low=1.01, high=2.0)
    min_neighbors: int = _opt(3, low=1, high=20)
    min_face: float = _opt(0.1, low=0.01, high=1.0)
    equalize: bool = _opt(True)
    seat_side: str = _opt("any", choices=("any", "left", "right"))
    tracking: bool = _opt(True)
    track_margin: float = _opt(0.3, low=0.1, high=3.0)
    track_hold_frames: int = _opt(5, low=1, high=1000)
    scan_slices: int = _opt(8, low=1, high=30)
    threads: int = _opt(1, low=1, high=256)
    still_aspects: list[float] = _opt(
        [0.75, 1.33],
        low=0.25,
        high=4.0,
        doc="stills only: where no face is found, search copies squeezed to these "
        "shares of the width (stretched photos)",
    )
    still_profile: bool = _opt(True, doc="stills only: then the profile cascade, both ways round (turned heads)")


@dataclass
class ModelConfig:
    path: str | None = _opt(None)
    precision: str = _opt("int8", choices=("int8", "fp32"))


@dataclass
class ModelsConfig:
    dir: str = _opt("models")
    intra_op_threads: int = _opt(1, low=1, high=256)
    inter_op_threads: int = _opt(1, low=1, high=256)
    emotion: ModelConfig = field(default_factory=ModelConfig)
    seatbelt: ModelConfig = field(default_factory=ModelConfig)

    def resolve(self, task: str) -> Path:
        model: ModelConfig = getattr(self, task)
        return self.locate(Path(model.path) if model.path else Path(self.dir) / f"{task}.{model.precision}.onnx")

    @staticmethod
    def locate(path: Path) -> Path:
        if not path.is_absolute() and not path.exists() and (CHECKOUT / path).exists():
            return CHECKOUT / path  # run from elsewhere in a source checkout: its own models/
        return path


@dataclass
class LandmarksConfig:
    enabled: bool = _opt(True, doc="run the face mesh on the driver's face every frame (eyes, head, mouth)")
    path: str | None = _opt(None, doc="default: landmarks.fp32.onnx in models.dir")
    min_presence: float = _opt(
        0.5,
        low=0.0,
        high=1.0,
        doc="the mesh confirms a face at this presence; the first face it confirms is the driver's",
    )
    track: bool = _opt(
        True,
        doc="on video, each frame's face comes from the last frame's mesh; the detector "
        "runs only to find the driver again",
    )

    def resolve(self, models: ModelsConfig) -> Path:
        return models.locate(Path(self.path) if self.path else Path(models.dir) / "landmarks.fp32.onnx")


@dataclass
class ChestConfig:
    """The chest region as multiples of the face box (dmsd.vision.geometry.chest_region), for the daemon and the
    seatbelt trainer alike."""

    width: float = _opt(2.6, low=0.5, high=6.0, doc="region width / face width, centred on the face")
    top: float = _opt(0.1, low=-0.5, high=2.0, doc="gap from the chin (face bottom) to the region's top / face height")
    height: float = _opt(1.8, low=0.3, high=5.0, doc="region height / face height")
    min_visible: float = _opt(0.4, low=0.05, high=1.0, doc="least share of the region in the frame to be usable")
    from_landmarks: bool = _opt(
        False,
        doc="where the face mesh confirms the face, hang the region from the neck "
        "(the head's turning axis and the chin) rather than the face box",
    )


@dataclass
class StateConfig:
    smoothing: float = _opt(0.3, low=0.01, high=1.0)
    emotion_hold_s: float = _opt(1.0, low=0.0, high=600)
    emotion_min_confidence: float = _opt(0.4, low=0.0, high=1.0)
    seatbelt_worn_above: float = _opt(0.6, low=0.0, high=1.0)
    seatbelt_unworn_below: float = _opt(0.4, low=0.0, high=1.0)
    seatbelt_debounce_s: float = _opt(2.0, low=0.0, high=600)
    absent_after_s: float = _opt(2.0, low=0.0, high=600)
    heartbeat_s: float = _opt(10.0, low=0.5, high=86400)
    include_probs: bool = _opt(False)


@dataclass
class AlertnessConfig:
    """Eyes, head and mouth over time (dmsd.driver.alertness); the timings default to Euro NCAP's."""

    baseline_min_s: float = _opt(3.0, low=0.5, high=600, doc="face seen this long before eyes and head are judged")
    baseline_s: float = _opt(
        60.0,
        low=1.0,
        high=3600,
        doc="the driver's open eyes and forward pose are learned over their first this-many seconds present",
    )
    eyes_closed_below: float = _opt(
        0.65, low=0.1, high=0.95, doc="closed under this share of the driver's own open-eye level"
    )
    microsleep_s: float = _opt(
        1.0, low=0.1, high=60, doc="a closure at least this long, under asleep_s, is a microsleep"
    )
    asleep_s: float = _opt(3.0, low=0.5, high=60)
    perclos_window_s: float = _opt(60.0, low=5, high=3600)
    perclos_min_s: float = _opt(
        10.0, low=1, high=3600, doc="eyes measured this long in the window before PERCLOS counts"
    )
    drowsy_perclos: float = _opt(0.15, low=0.01, high=1.0)
    alert_perclos: float = _opt(0.10, low=0.0, high=1.0)
    drowsy_microsleeps: int = _opt(3, low=1, high=100, doc="this many microsleeps within perclos_window_s")
    away_yaw_deg: float = _opt(30.0, low=5, high=90, doc="head turned this far from the driver's forward is away")
    away_pitch_deg: float = _opt(20.0, low=5, high=90)
    long_distraction_s: float = _opt(3.0, low=0.5, high=60)
    time_sharing_s: float = _opt(10.0, low=1, high=600, doc="away this long in all within time_sharing_window_s")
    time_sharing_window_s: float = _opt(30.0, low=1, high=3600)
    time_sharing_reset_s: float = _opt(2.0, low=0.1, high=60, doc="on the road this long restarts the window")
    unresponsive_s: float = _opt(6.0, low=1, high=600, doc="eyes closed or away this long")
    yawn_openness: float = _opt(0.5, low=0.1, high=2.0, doc="mouth openness of a yawn")
    yawn_s: float = _opt(1.5, low=0.1, high=60)


@dataclass
class TlsConfig:
    enabled: bool = _opt(False)
    ca_certs: str | None = _opt(None)
    certfile: str | None = _opt(None)
    keyfile: str | None = _opt(None)
    insecure: bool = _opt(False, doc="skip the host name check (testing only)")


@dataclass
class MqttConfig:
    enabled: bool = _opt(True)
    host: str = _opt("localhost")
    port: int = _opt(1883, low=1, high=65535)
    topic_prefix: str = _opt("dms/{device_id}")
    client_id: str | None = _opt(None)
    keepalive_s: int = _opt(30, low=5, high=3600)
    username: str | None = _opt(None)
    password: str | None = _opt(None)
    password_file: str | None = _opt(None)
    password_env: str = _opt("DMSD_MQTT_PASSWORD")
    tls: TlsConfig = field(default_factory=TlsConfig)
    queue_size: int = _opt(1000, low=1, high=1_000_000)
    reconnect_min_s: float = _opt(1.0, low=0.1, high=600)
    reconnect_max_s: float = _opt(30.0, low=0.1, high=3600)
    stats_interval_s: float = _opt(10.0, low=0.5, high=86400)
    drain_timeout_s: float = _opt(5.0, low=0.0, high=600)
    outbox: str | None = _opt(
        "outbox.sqlite",
        doc="SQLite file events wait in until the broker acknowledges them; "
        "relative to the state directory; null: in memory only",
    )
    queue_max_mb: float = _opt(16.0, low=0.01, high=4096, doc="the outbox's size limit beside queue_size")

    def outbox_path(self) -> Path | None:
        """mqtt.outbox, a relative path under the state directory: $STATE_DIRECTORY (systemd's StateDirectory=),
        else $XDG_STATE_HOME/dmsd, else ~/.local/state/dmsd."""
        if self.outbox is None:
            return None
        path = Path(self.outbox).expanduser()
        if path.is_absolute():
            return path
        if os.environ.get("STATE_DIRECTORY"):
            return Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / path
        return Path(os.environ.get("XDG_STATE_HOME") or "~/.local/state").expanduser() / "dmsd" / path

    def resolve_password(self) -> str | None:
        """The password from, in order: the environment variable, the file, the config. Never logged."""
        if os.environ.get(self.password_env):
            return os.environ[self.password_env]
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise DmsdError(f"mqtt.password_file: cannot read {self.password_file} ({exc.strerror})") from None
        return self.password


@dataclass
class HomeAssistantConfig:
    enabled: bool = _opt(
        True, doc="announce the driver's sensors to Home Assistant (MQTT discovery); false removes them"
    )
    prefix: str = _opt("homeassistant", doc="Home Assistant's discovery prefix")
    support_url: str | None = _opt(
        None, doc="an http(s) page for this installation, shown as the origin's support link"
    )


@dataclass
class VehicleConfig:
    """Alerts gated by the vehicle's speed and gear from `<prefix>/vehicle` (dmsd.driver.vehicle)."""

    enabled: bool = _opt(True, doc="read <prefix>/vehicle and hold alerts that do not matter at this speed")
    max_age_s: float = _opt(5.0, low=0.1, high=3600, doc="older vehicle data gates nothing")
    distraction_min_speed_kmh: float = _opt(10.0, low=0, high=300)
    not_forward_gears: list[str] = _opt(["P", "R", "N"], doc="gears in which distraction alerts are held")
    drowsiness_min_speed_kmh: float = _opt(10.0, low=0, high=300)
    seatbelt_min_speed_kmh: float = _opt(25.0, low=0, high=300)
    seatbelt_after_s: float = _opt(60.0, low=0, high=86400, doc="or this long after dmsd started (the ignition)")


@dataclass
class Config:
    device_id: str | None = _opt(None, doc="defaults to the host name")
    log_level: str = _opt("INFO", choices=LOG_LEVELS)
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    landmarks: LandmarksConfig = field(default_factory=LandmarksConfig)
    chest: ChestConfig = field(default_factory=ChestConfig)
    state: StateConfig = field(default_factory=StateConfig)
    alertness: AlertnessConfig = field(default_factory=AlertnessConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)

    @property
    def device(self) -> str:
        return self.device_id or socket.gethostname()

    @property
    def topic_prefix(self) -> str:
        return self.mqtt.topic_prefix.format(device_id=self.device).rstrip("/")


def find_config(explicit: str | None) -> Path | None:
    """--config, then ./config.yaml, then /etc/dmsd/config.yaml; None means built-in defaults."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise DmsdError(f"{path}: no such configuration file")
        return path
    return next((p for p in SEARCH_PATH if p.is_file()), None)


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DmsdError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except OSError as exc:
        raise DmsdError(f"{path}: cannot read ({exc.strerror})") from None
    if data is None:
        data = {}
    try:
        config = build(Config, data, "")
        check(config)
    except DmsdError as exc:
        raise DmsdError(f"{path}: {exc}") from None
    return config


def check(config: Config) -> None:
    """Rules that span keys."""
    s, m = config.state, config.mqtt
    if s.seatbelt_unworn_below > s.seatbelt_worn_above:
        raise DmsdError("state.seatbelt_unworn_below must not exceed state.seatbelt_worn_above")
    if m.reconnect_min_s > m.reconnect_max_s:
        raise DmsdError("mqtt.reconnect_min_s must not exceed mqtt.reconnect_max_s")
    if config.source.reopen_min_s > config.source.reopen_max_s:
        raise DmsdError("source.reopen_min_s must not exceed source.reopen_max_s")
    a = config.alertness
    if a.microsleep_s >= a.asleep_s:
        raise DmsdError("alertness.microsleep_s must be under alertness.asleep_s")
    if a.alert_perclos > a.drowsy_perclos:
        raise DmsdError("alertness.alert_perclos must not exceed alertness.drowsy_perclos")
    if a.baseline_min_s > a.baseline_s:
        raise DmsdError("alertness.baseline_min_s must not exceed alertness.baseline_s")
    prefixes = (("mqtt.topic_prefix", config.topic_prefix), ("homeassistant.prefix", config.homeassistant.prefix))
    for key, topic in prefixes:
        if not topic.strip("/") or any(c in topic for c in "+#\0") or topic.startswith("/") or "//" in topic:
            raise DmsdError(
                f"{key}: {topic!r} is not a usable MQTT topic prefix (allowed: non-empty levels joined "
                f"by '/', without '+', '#' or a leading '/')"
            )
    url = config.homeassistant.support_url
    if url is not None and not url.startswith(("http://", "https://")):
        raise DmsdError(
            f"homeassistant.support_url: {url!r} is not allowed (allowed: an http:// or https:// URL, or null)"
        )
    if m.outbox is not None and not m.outbox.strip():
        raise DmsdError("mqtt.outbox: an empty path (allowed: a file path, or null for an in-memory queue)")


def build(cls: type[T], data: object, prefix: str) -> T:
    """Make dataclass `cls` from a mapping, checking every key, type and range."""
    if not isinstance(data, dict):
        raise DmsdError(f"{prefix.rstrip('.') or 'the file'}: expected a mapping of keys, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise DmsdError(f"unknown key {name!r} (allowed: {', '.join(fields)})")
        values[key] = _convert(hints[key], value, name, fields[key].metadata)
    return cls(**values)


def _convert(hint: object, value: object, name: str, meta: Mapping[str, object]) -> object:
    if dataclasses.is_dataclass(hint):
        return build(hint, value, name + ".")
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise DmsdError(f"{name}: expected a list, got {_kind(value)}")
        # Each item is checked against the key's own range and choices.
        return [_convert(typing.get_args(hint)[0], item, f"{name}[{i}]", meta) for i, item in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise DmsdError(f"{name}: expected true or false, got {_kind(value)}")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DmsdError(f"{name}: expected an integer, got {_kind(value)}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DmsdError(f"{name}: expected a number, got {_kind(value)}")
        value = float(value)
    elif hint is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # `uri: 0` is a camera index
        if not isinstance(value, str):
            raise DmsdError(f"{name}: expected text, got {_kind(value)}")
    choices, low, high = meta.get("choices"), meta.get("low"), meta.get("high")
    if callable(choices):
        choices = choices()
    if choices and value not in choices:
        raise DmsdError(f"{name}: {value!r} is not allowed (allowed: {', '.join(choices)})")
    if (low is not None and value < low) or (high is not None and value > high):
        raise DmsdError(f"{name}: {value} is out of range ({low}..{high})")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"[:80]
