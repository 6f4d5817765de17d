"""Configuration: typed dataclasses, loaded from YAML and validated, apart from the code that uses them.

Every key is defined here once: its type, default, allowed values and `doc`, the text config.yaml is written from
(`python -m scripts.config_docs --write`; a test checks config.yaml and the README's table against this file).
Every error names the key and what it allows, e.g.
    config.yaml: mqtt.port: 70000 is out of range (1..65535)
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from dmsd.errors import DmsdError

SEARCH_PATH = (Path("config.yaml"), Path("/etc/dmsd/config.yaml"))
CHECKOUT = Path(__file__).resolve().parent.parent  # the source tree, when dmsd runs from one
T = TypeVar("T")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Keys that moved, named in the error a file that still has them gets.
MOVED = {f"detector.{key}": f"detector.haar.{key}" for key in ("cascade", "scale_factor", "min_neighbors", "equalize")}


def option(
    default: object,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    doc: str = "",
) -> Any:
    """A field with its allowed values recorded for validation; `choices` may be a function asked at load time.

    doc: what the key means, the one text config.yaml's comment is made of (python -m scripts.config_docs); a key
    without one shares the comment of the key before it."""
    metadata = {"low": low, "high": high, "choices": choices, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(factory: Callable[[], object], *, doc: str = "") -> Any:
    """A section of keys (a dataclass), with the comment that heads it in config.yaml."""
    return field(default_factory=factory, metadata={"doc": doc})


@dataclass
class SourceConfig:
    uri: str = option(
        "0",
        doc="Camera index (0), /dev/videoN, a video file, an rtsp:// or http(s):// stream, or a directory of images.",
    )
    width: int | None = option(
        None,
        low=16,
        high=8192,
        doc="Capture size and rate asked of a camera; null leaves the camera's default. Ignored for files.",
    )
    height: int | None = option(None, low=16, high=8192)
    fps: float | None = option(
        None,
        low=0.1,
        high=240,
        doc=(
            "Frames per second: asked of a camera; for a directory of images, the rate its frames are timed at (null:"
            " 1)."
        ),
    )
    stall_timeout_s: float = option(
        3.0,
        low=0.1,
        high=600,
        doc="A live source that yields no frame for this long is reported lost (camera_lost) and reopened.",
    )
    reopen_min_s: float = option(
        0.5, low=0.01, high=600, doc="Reopen attempts back off exponentially from reopen_min_s to reopen_max_s."
    )
    reopen_max_s: float = option(30.0, low=0.01, high=3600)
    realtime: bool = option(
        False, doc="Read a file at its recorded frame rate instead of as fast as possible (--realtime)."
    )
    loop: bool = option(
        False, doc="Play a file or image directory again from the top when it ends (--loop): demos and soak tests."
    )


@dataclass
class DetectorConfig:
    type: str = option(
        "haar",
        doc=(
            "Face detector plugin: a module of dmsd/vision/detectors/ (shipped: haar, blazeface). An unknown one is "
            "refused when the detectors are made, naming those there are."
        ),
    )
    fallback: str = option(
        "blazeface",
        doc=(
            "Second face detector, run only where the first finds nothing (around the lost face, then the whole "
            "frame): finds heads tilted back, dropped or turned, which Haar misses. none: the first detector alone."
        ),
    )
    detect_width: int = option(
        320,
        low=64,
        high=4096,
        doc="Frames are scaled down to this width before detection (the face box is mapped back): the main speed knob.",
    )
    min_face: float = option(0.1, low=0.01, high=1.0, doc="Smallest face, as a share of the frame height (0.01-1.0).")
    seat_side: str = option(
        "any",
        choices=("any", "left", "right"),
        doc="Which face is the driver: the largest (any), or the largest in the left or right half of the image.",
    )
    tracking: bool = option(
        True,
        doc=(
            "Video: search only around the driver's last face (within track_margin face sizes), and spread the full "
            "search over scan_slices frames (1-30), so no frame pays for a whole search. Off: a full search every "
            "frame."
        ),
    )
    track_margin: float = option(0.3, low=0.1, high=3.0)
    scan_slices: int = option(8, low=1, high=30)
    track_hold_frames: int = option(
        5,
        low=1,
        high=1000,
        doc="Frames a lost face is still looked for around its last place before only the scan looks (1-1000).",
    )
    threads: int = option(
        1,
        low=1,
        high=256,
        doc="OpenCV threads for the face stage. More helps a full search on a multi-core device (see README).",
    )
    still_aspects: list[float] = option(
        [0.75, 1.33],
        low=0.25,
        high=4.0,
        doc=(
            "Still images only (--once, evaluate, training): where no face is found, search copies squeezed to these "
            "shares of the width (exported and stock photos are often stretched), then with the profile cascade both "
            "ways round (a turned head). [] and false: the frontal search alone. Video is never slowed by these."
        ),
    )
    still_profile: bool = option(True)
    # Each plugin's own keys, `detector.<plugin>: {...}`, as written: the plugin declares and checks them
    # (dmsd.vision.detectors), so a plugin with keys of its own is one file.
    plugins: dict[str, dict] = field(default_factory=dict, metadata={"plugins": True})


@dataclass
class ModelConfig:
    precision: str = option(
        "int8", choices=("int8", "fp32"), doc="int8 or fp32 (see models/README.md for which is faster on your CPU)."
    )
    path: str | None = option(
        None, doc="A model file of your own; null: <dir>/<task>.<precision>.onnx. It must carry the dmsd metadata."
    )


@dataclass
class ModelsConfig:
    dir: str = option("models", doc="Where <task>.<precision>.onnx live.")
    intra_op_threads: int = option(
        1,
        low=1,
        high=256,
        doc="ONNX Runtime threads per model. 1 leaves the other cores to the face detector and the system.",
    )
    inter_op_threads: int = option(1, low=1, high=256)
    emotion: ModelConfig = section(ModelConfig, doc="")
    seatbelt: ModelConfig = section(ModelConfig, doc="")
    eyes: ModelConfig = section(ModelConfig, doc="")
    phone: ModelConfig = section(ModelConfig, doc="")

    def with_path(self, task: str, path: str | None) -> ModelsConfig:
        """These models with `task`'s file at `path` (None: as configured): an evaluator's --model."""
        if not path:
            return self
        return dataclasses.replace(self, **{task: dataclasses.replace(getattr(self, task), path=path)})

    def resolve(self, task: str) -> Path:
        model: ModelConfig = getattr(self, task)
        return self.locate(Path(model.path) if model.path else Path(self.dir) / f"{task}.{model.precision}.onnx")

    @staticmethod
    def locate(path: Path) -> Path:
        if not path.is_absolute() and not path.exists() and (CHECKOUT / path).exists():
            return CHECKOUT / path  # run from elsewhere in a source checkout: its own models/
        return path


@dataclass
class EyesConfig:
    """The one eye rule (dmsd.driver.eye_closure): which measures decide, and their thresholds."""

    rule: str = option(
        "blink_and_model",
        choices=("blink_and_model", "blink", "model", "ratio"),
        doc=(
            "What decides that the eyes are closed: blink_and_model, the blendshapes' blink score and the eye-state "
            "model both (the blink score alone where the model is off); blink, the blink score alone; model, the "
            "eye-state model alone; ratio, the eye aspect ratio against the driver's own open level (a fixed "
            "threshold on stills). The figures behind the default are in README.md."
        ),
    )
    model: bool = option(
        True,
        doc="Run the eye-state model on a patch of each eye the face mesh places (models.eyes); false: it is not run.",
    )
    blink_above: float = option(
        0.25, low=0.05, high=0.95, doc="Closed when the blendshapes' blink score is at least this on the seen eyes."
    )
    closed_above: float = option(
        0.5,
        low=0.05,
        high=0.95,
        doc="Closed when the eye-state model's closed probability is at least this on the seen eyes...",
    )
    ratio_below: float = option(
        0.3,
        low=0.1,
        high=2.0,
        doc=(
            "...and the eye aspect ratio agrees, the mean of both under this: a glasses rim the model takes for shut "
            "lids, over an eye the mesh sees open, is not a closure. 2.0: the model alone."
        ),
    )
    still_ratio_below: float = option(
        0.2625,
        low=0.05,
        high=0.6,
        doc="The ratio rule on a still photo, which has no driver's own open level: closed under this aspect ratio.",
    )
    dark_lens_below: float = option(
        0.15,
        low=0.0,
        high=1.0,
        doc=(
            "An eye darker than this share of its cheek's brightness is behind a dark lens: unseen, never closed. "
            "0: never."
        ),
    )
    glare_above: float = option(
        0.2,
        low=0.0,
        high=1.0,
        doc="An eye whose middle has this share of saturated pixels is behind glare: unseen, never closed. 1: never.",
    )


@dataclass
class LandmarksConfig:
    enabled: bool = option(
        True, doc="Run the face mesh on the driver's face every frame (eyes, head, mouth); false: they are null."
    )
    model: str = option(
        "v2",
        choices=("v1", "v2"),
        doc=(
            "Which MediaPipe face mesh: v1, 468 points from a 192x192 crop (<models.dir>/landmarks.fp32.onnx), or v2, "
            "the same 468 points and five per iris from a 256x256 crop (<models.dir>/landmarks_v2.fp32.onnx)."
        ),
    )
    path: str | None = option(
        None, doc="A model file of your own, in place of landmarks.model's. It must carry the dmsd metadata."
    )
    min_presence: float = option(
        0.5,
        low=0.0,
        high=1.0,
        doc=(
            "The mesh's own face-presence probability that confirms a face: of the detector's faces, the first it "
            "confirms is the driver's (a headrest gives way to the face beside it); with none confirmed, the "
            "detector's pick stands and eyes, head and mouth are null."
        ),
    )
    track: bool = option(
        True,
        doc=(
            "On video, each frame's face comes from the last frame's mesh, and the detector runs only to find the "
            "driver again: faster than a detector search, and it follows a turned head the frontal cascade would "
            "lose."
        ),
    )

    def resolve(self, models: ModelsConfig) -> Path:
        name = "landmarks_v2.fp32.onnx" if self.model == "v2" else "landmarks.fp32.onnx"
        return models.locate(Path(self.path) if self.path else Path(models.dir) / name)


@dataclass
class BlendshapesConfig:
    enabled: bool = option(
        True,
        doc=(
            "Run MediaPipe's face blendshapes model on the face mesh every frame: blink, squint, look-down, jaw and "
            "smile scores for the eye and yawn rules. Needs landmarks.model: v2 (its irises); false: they are null."
        ),
    )
    path: str | None = option(
        None,
        doc="A model file of your own; null: <models.dir>/blendshapes.fp32.onnx. It must carry the dmsd metadata.",
    )

    def resolve(self, models: ModelsConfig) -> Path:
        return models.locate(Path(self.path) if self.path else Path(models.dir) / "blendshapes.fp32.onnx")


@dataclass
class ChestConfig:
    """The chest region as multiples of the face box (dmsd.vision.chest.chest_region), for the daemon and the
    seatbelt trainer alike."""

    # The shoulder-to-chest stretch of the belt, and little else: a wider or taller region took in the belt hanging at
    # the pillar of an unbelted driver, the forearm on the wheel, and (in a close or mirror camera) the frame's edge.
    width: float = option(2.0, low=0.5, high=6.0, doc="region width / face width, centred under the face")
    top: float = option(0.1, low=-0.5, high=2.0, doc="gap between chin and region / face height")
    height: float = option(1.2, low=0.3, high=5.0, doc="region height / face height")
    min_visible: float = option(
        0.4, low=0.05, high=1.0, doc="skip the belt check when less than this share of the region is inside the frame"
    )
    hands_unknown_above: float | None = option(
        None,
        low=0.05,
        high=1.0,
        doc=(
            "Where a frame reads the belt not worn, look for hands (MediaPipe's palm detector) and call the belt "
            "unknown instead when hands cover at least this share of the region. null: off (it costs about 15 ms a "
            "look; see the model card's Seatbelt section for what it found on real clips)."
        ),
    )
    hands_path: str | None = option(
        None, doc="The palm detector for hands_unknown_above; null: <models.dir>/palms.fp32.onnx."
    )
    from_landmarks: bool = option(
        False,
        doc=(
            "Where the face mesh confirms the face, hang the region from the neck (the cheek edges' midpoint, on the "
            "head's turning axis, and the chin) instead of the face box, which swings out with a turned head; train "
            "with --chest-from-landmarks to match."
        ),
    )

    def hands_model(self, models: ModelsConfig) -> Path:
        return models.locate(Path(self.hands_path) if self.hands_path else Path(models.dir) / "palms.fp32.onnx")


@dataclass
class PhoneConfig:
    enabled: bool = option(
        False,
        doc=(
            "Look for a phone in use (models.phone, on the region its contract names: the face and its "
            "surroundings, where a phone at the ear and the hand holding it are). See models/README.md for what it "
            "was measured on and how far it reaches."
        ),
    )
    interval_s: float = option(
        0.25,
        low=0.0,
        high=10.0,
        doc="On video, the model runs at most this often (frame time), its last answer held between; 0: every frame.",
    )
    min_confidence: float = option(
        0.6, low=0.34, high=1.0, doc="A call or texting reading counts only at this probability; under it, none."
    )
    min_s: float = option(
        2.0,
        low=0.0,
        high=600,
        doc=(
            "A call or texting held this long, at a stretch, is phone_use (with its kind): short enough that a call "
            "of 3.5 s raises it with time for the model to see the phone, long enough to pass over a hand at the "
            "ear for a moment..."
        ),
    )
    clear_s: float = option(2.0, low=0.0, high=600, doc="...and none held this long after it is phone_down.")


@dataclass
class PreviewConfig:
    enabled: bool = option(
        False,
        doc=(
            "Serve a live page of what dmsd sees (the annotated picture, the state, the last events) while the daemon "
            "runs, for fitting the camera; `dmsd preview` serves it without this. Frames go only to the page's "
            "viewers: never to disk or MQTT."
        ),
    )
    listen: str = option(
        "127.0.0.1:8090",
        doc="HOST:PORT to serve on. Any address but a loopback one needs preview.password.",
    )
    password: str | None = option(
        None, doc="Viewers log in as `dmsd` with this password (HTTP basic auth); needed off the loopback address."
    )
    certfile: str | None = option(None, doc="Serve HTTPS with this certificate (PEM)...")
    keyfile: str | None = option(None, doc="...and its key; null: the key is in certfile.")
    max_viewers: int = option(
        2, low=1, high=16, doc="Viewers of the picture at once; one more is told to come back later."
    )
    fps: float = option(
        5.0, low=0.5, high=30.0, doc="Pictures a second sent to the page (the analysis runs at its own rate)."
    )

    def address(self) -> tuple[str, int]:
        """(host, port) of `listen`; DmsdError naming the key when it is not HOST:PORT."""
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DmsdError(f"preview.listen: {self.listen!r} is not allowed (allowed: HOST:PORT, e.g. 127.0.0.1:8090)")
        return host.strip("[]"), int(port)


@dataclass
class StateConfig:
    smoothing: float = option(
        0.3,
        low=0.01,
        high=1.0,
        doc=(
            "Weight of each new frame in the moving averages of emotion and belt probabilities (0.01-1; 1: no "
            "smoothing)."
        ),
    )
    emotion_hold_s: float = option(
        1.0,
        low=0.0,
        high=600,
        doc="A new emotion must lead for this long, with at least this smoothed probability, before emotion_changed.",
    )
    emotion_min_confidence: float = option(0.4, low=0.0, high=1.0)
    seatbelt_worn_above: float = option(
        0.6,
        low=0.0,
        high=1.0,
        doc=(
            "Hysteresis on the smoothed belt probability: worn above the first, not worn below the second, and the "
            "new reading must hold for seatbelt_debounce_s before seatbelt_fastened / seatbelt_unfastened."
        ),
    )
    seatbelt_unworn_below: float = option(0.4, low=0.0, high=1.0)
    seatbelt_debounce_s: float = option(2.0, low=0.0, high=600)
    absent_after_s: float = option(
        2.0, low=0.0, high=600, doc="No face for this long: driver_absent (emotion and belt become unknown, null)."
    )
    heartbeat_s: float = option(
        10.0,
        low=0.5,
        high=86400,
        doc="The retained state is republished at least this often, even when nothing changed.",
    )
    include_probs: bool = option(False, doc="Add the smoothed per-class emotion probabilities to the state payload.")


@dataclass
class AlertnessConfig:
    """Eyes, head and mouth over time (dmsd.driver.alertness); the timings default to Euro NCAP's."""

    baseline_min_s: float = option(
        3.0,
        low=0.5,
        high=600,
        doc="only the eye-state model's verdicts and yawns are judged before the driver has been seen this long",
    )
    baseline_s: float = option(
        60.0, low=1.0, high=3600, doc="open-eye level and forward pose are learned over this much of their time present"
    )
    eyes_closed_below: float = option(
        0.65, low=0.1, high=0.95, doc="eyes closed under this share of the driver's own open-eye level"
    )
    microsleep_s: float = option(
        1.0, low=0.1, high=60, doc="a closure this long (but under asleep_s) is a microsleep; shorter ones are blinks"
    )
    asleep_s: float = option(3.0, low=0.5, high=60, doc="eyes closed this long at a stretch: asleep")
    perclos_window_s: float = option(60.0, low=5, high=3600, doc="PERCLOS: the share of this window with eyes closed")
    perclos_min_s: float = option(10.0, low=1, high=3600, doc="...once the eyes have been measured this long in it")
    drowsy_perclos: float = option(0.15, low=0.01, high=1.0, doc="drowsy at this PERCLOS...")
    alert_perclos: float = option(0.10, low=0.0, high=1.0, doc="alert again under this PERCLOS (hysteresis)")
    drowsy_microsleeps: int = option(3, low=1, high=100, doc="...or this many microsleeps in the window")
    away_yaw_deg: float = option(
        30.0, low=5, high=90, doc="head turned this far from the driver's forward (yaw) is away from the road"
    )
    away_pitch_deg: float = option(20.0, low=5, high=90, doc="...or tilted this far (pitch)")
    long_distraction_s: float = option(3.0, low=0.5, high=60, doc="away this long at a stretch: distracted, kind long")
    road_glance_s: float = option(
        0.5,
        low=0.0,
        high=10,
        doc="a stretch away ends only once the head is back on the road this long (a head sweeping from one side to "
        "the other crosses the road for a moment)",
    )
    time_sharing_s: float = option(10.0, low=1, high=600, doc="away this long in all...")
    time_sharing_window_s: float = option(
        30.0, low=1, high=3600, doc="...within this window: distracted, kind time_sharing"
    )
    time_sharing_reset_s: float = option(
        2.0, low=0.1, high=60, doc="back on the road this long restarts the window (and ends a distraction)"
    )
    unresponsive_s: float = option(6.0, low=1, high=600, doc="eyes closed or away this long at a stretch: unresponsive")
    excuse_mouth_open: float = option(
        0.2,
        low=0.05,
        high=2.0,
        doc=(
            "eyes closed while the mouth is open past this (a laugh, a yawn, talking) count toward neither PERCLOS "
            "nor a microsleep; asleep still counts them"
        ),
    )
    excuse_smile: float = option(
        0.5,
        low=0.05,
        high=1.0,
        doc="...and so do eyes closed in a smile this wide (the blendshapes' smile score: a laugh squeezes the eyes)",
    )
    yawn_jaw_open: float = option(
        0.25,
        low=0.05,
        high=1.0,
        doc=(
            "a yawn: the blendshapes' jaw opening at least this, without a smile past yawn_smile_below (chosen on "
            "real yawns: README)..."
        ),
    )
    yawn_smile_below: float = option(0.5, low=0.05, high=1.0, doc="...(a laugh or a song opens the jaw in a smile)...")
    yawn_openness: float = option(
        0.3,
        low=0.1,
        high=2.0,
        doc=(
            "...or, without the blendshapes, the mouth's openness at least this (the inner lips' gap over the "
            "mouth's width)..."
        ),
    )
    yawn_s: float = option(1.2, low=0.1, high=60, doc="...held this long (talking opens the mouth for moments)")
    nodding_seat_similarity: float = option(
        0.7,
        low=0.0,
        high=1.0,
        doc=(
            "a face lost while nodding off (eyes closed, or the head pitched past away_pitch_deg, when last seen) "
            "keeps the driver present, the closure timed, while their head-and-chest region still looks this much "
            "like it did then (correlation); 1.0: never (README, 'Nodding off or gone')"
        ),
    )


@dataclass
class TlsConfig:
    enabled: bool = option(False, doc="TLS to the broker; client certificates are optional.")
    ca_certs: str | None = option(None, doc="CA bundle to verify the broker; null: the system's")
    certfile: str | None = option(None, doc="client certificate, for brokers that ask for one")
    keyfile: str | None = option(None)
    insecure: bool = option(False, doc="skip the host name check (testing only)")


@dataclass
class MqttConfig:
    enabled: bool = option(True, doc="false: do not publish (also --no-mqtt).")
    host: str = option("localhost")
    port: int = option(1883, low=1, high=65535)
    topic_prefix: str = option("dms/{device_id}", doc="Topic prefix; {device_id} is replaced.")
    client_id: str | None = option(None, doc="null: dmsd-<device_id>.")
    keepalive_s: int = option(30, low=5, high=3600)
    username: str | None = option(
        None,
        doc=(
            "Credentials. The password is taken from the environment variable named by password_env if it is set, "
            "else from password_file, else from password. It is never logged."
        ),
    )
    password: str | None = option(None)
    password_file: str | None = option(None)
    password_env: str = option("DMSD_MQTT_PASSWORD")
    tls: TlsConfig = section(TlsConfig, doc="")
    queue_size: int = option(
        1000,
        low=1,
        high=1_000_000,
        doc=(
            "The outbox's limits, in events and in megabytes; when full, the oldest are dropped (counted in stats and"
            " logged)."
        ),
    )
    reconnect_min_s: float = option(1.0, low=0.1, high=600, doc="Reconnect backoff, in seconds.")
    reconnect_max_s: float = option(30.0, low=0.1, high=3600)
    stats_interval_s: float = option(10.0, low=0.5, high=86400, doc="How often <prefix>/stats is published.")
    drain_timeout_s: float = option(
        5.0,
        low=0.0,
        high=600,
        doc="At shutdown, wait this long for queued events to be delivered before giving up (and logging how many).",
    )
    outbox: str | None = option(
        "outbox.sqlite",
        doc=(
            "Every event is written to the outbox before it is sent and removed when the broker acknowledges it, so a"
            " broker outage, a crash or a power cut loses none: what a run could not deliver, the next run sends "
            "first. A SQLite file; a relative path lies in the state directory ($STATE_DIRECTORY, /var/lib/dmsd under"
            " systemd; else $XDG_STATE_HOME/dmsd, i.e. ~/.local/state/dmsd). null: an in-memory queue, lost when dmsd"
            " stops. A file that is not a database or cannot be written is moved aside (logged) and a fresh one "
            "started."
        ),
    )
    queue_max_mb: float = option(16.0, low=0.01, high=4096)

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
    enabled: bool = option(True, doc="false: removes the entities (an empty retained message on the same topic).")
    prefix: str = option("homeassistant", doc="Home Assistant's discovery prefix (its MQTT integration's setting).")
    support_url: str | None = option(None, doc="An http(s) page shown as the device's support link; null: none.")


@dataclass
class VehicleConfig:
    """Alerts gated by the vehicle's speed and gear from `<prefix>/vehicle` (dmsd.driver.vehicle)."""

    enabled: bool = option(True, doc="false: ignore vehicle data; nothing is gated.")
    max_age_s: float = option(
        5.0,
        low=0.1,
        high=3600,
        doc="Vehicle data older than this gates nothing (the state says so), nor does no data at all.",
    )
    distraction_min_speed_kmh: float = option(
        10.0, low=0, high=300, doc="distracted: only above this speed, and not in one of these gears."
    )
    not_forward_gears: list[str] = option(["P", "R", "N"])
    drowsiness_min_speed_kmh: float = option(
        10.0, low=0, high=300, doc="asleep, drowsy, microsleep, unresponsive, yawn: only above this speed."
    )
    seatbelt_min_speed_kmh: float = option(
        25.0,
        low=0,
        high=300,
        doc="seatbelt_unfastened: above this speed, or once dmsd has run seatbelt_after_s (from the ignition).",
    )
    seatbelt_after_s: float = option(60.0, low=0, high=86400)


@dataclass
class Config:
    device_id: str | None = option(
        None, doc="Identifies this vehicle in MQTT topics (dms/<device_id>/...). null: the host name."
    )
    log_level: str = option(
        "INFO", choices=LOG_LEVELS, doc="DEBUG, INFO, WARNING or ERROR. Logs go to stderr (the journal under systemd)."
    )
    source: SourceConfig = section(SourceConfig, doc="")
    detector: DetectorConfig = section(DetectorConfig, doc="")
    models: ModelsConfig = section(ModelsConfig, doc="")
    landmarks: LandmarksConfig = section(
        LandmarksConfig,
        doc=(
            "The face mesh (468 points, MediaPipe's model) on the driver's face every frame: eyes, head pose and mouth."
        ),
    )
    blendshapes: BlendshapesConfig = section(
        BlendshapesConfig, doc="Expression scores from the face mesh (MediaPipe's blendshapes model)."
    )
    eyes: EyesConfig = section(
        EyesConfig, doc="How eye state is decided (needs landmarks.enabled: the mesh places the eyes)."
    )
    chest: ChestConfig = section(
        ChestConfig,
        doc=(
            "The chest region the seatbelt model looks at, in multiples of the face box (shared with the training "
            "code)."
        ),
    )
    phone: PhoneConfig = section(PhoneConfig, doc="Phone use: a call or texting, held long enough, is a distraction.")
    preview: PreviewConfig = section(
        PreviewConfig, doc="The live page for fitting the camera (README, 'Fitting the camera')."
    )
    state: StateConfig = section(StateConfig, doc="")
    alertness: AlertnessConfig = section(
        AlertnessConfig,
        doc=(
            "Drowsiness and distraction from the face mesh (needs landmarks.enabled). Every judgement is against the "
            "driver's own baseline: their open eyes and their forward pose, learned over their first minute present. "
            "Timings: Euro NCAP."
        ),
    )
    mqtt: MqttConfig = section(MqttConfig, doc="")
    homeassistant: HomeAssistantConfig = section(
        HomeAssistantConfig,
        doc=(
            "Home Assistant MQTT discovery: one retained device message at <prefix>/device/<device_id>/config makes "
            "the driver's sensors (present, seatbelt, emotion, drowsiness, attention, eyes closed, camera, frame "
            "rate) appear in Home Assistant by themselves. Sent on every connect and whenever Home Assistant says "
            "`online` on <prefix>/status."
        ),
    )
    vehicle: VehicleConfig = section(
        VehicleConfig,
        doc=(
            'Vehicle context: dmsd reads {"speed_kmh": 54, "gear": "D"} on <topic_prefix>/vehicle (published by '
            "whatever bridges the vehicle bus) and holds alerts that do not matter at this speed or gear. A held alert "
            "is not raised as an event (the state says which gate holds it); if it is still on when its gate opens, "
            "it is raised then."
        ),
    )

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


def load_config(
    path: Path | None, overrides: Mapping[str, object] | None = None, options: Mapping[str, str] | None = None
) -> Config:
    """The file at `path` (None: the built-in defaults) with `overrides` set on it, validated together.

    overrides: dotted keys ("mqtt.port") and their values, e.g. from the command line, set on the file's mapping
    before validation, so the one validator checks them as it checks the file. An error about one of them is blamed
    on `options`' name for it ("--mqtt: mqtt.port: 99999 is out of range (1..65535)"), else on nothing: not the file.
    """
    data: object = {} if path is None else _read(path)
    for key, value in (overrides or {}).items():
        _set(data, key, value)
    try:
        config = build(Config, data, "")
        check(config)
    except DmsdError as exc:
        message = str(exc)
        named = _first_named(message, overrides or {})
        where = path if named is None else (options or {}).get(named)
        raise DmsdError(f"{where}: {message}" if where else message) from None
    return config


def _read(path: Path) -> object:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DmsdError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except OSError as exc:
        raise DmsdError(f"{path}: cannot read ({exc.strerror})") from None
    return {} if data is None else data


def _set(data: object, key: str, value: object) -> None:
    """Set dotted `key` in the mapping `data`, making missing sections; a section that is not a mapping is left for
    the validator to name."""
    *parents, name = key.split(".")
    for parent in parents:
        if not isinstance(data, dict):
            return
        data = data.setdefault(parent, {})
    if isinstance(data, dict):
        data[name] = value


def _first_named(message: str, keys: Iterable[str]) -> str | None:
    """The key the message names first, whole (`mqtt.port`, not `mqtt.port_x`), or None."""
    found = [
        (match.start(), key)
        for key in keys
        if (match := re.search(rf"(?<![\w.]){re.escape(key)}(?![\w]|\.\w)", message)) is not None
    ]
    return min(found)[1] if found else None


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
    lm = config.landmarks
    if config.blendshapes.enabled and lm.enabled and lm.model == "v1" and not lm.path:
        raise DmsdError(
            "blendshapes.enabled: true needs the v2 face mesh (the blendshapes model reads its irises); set "
            "landmarks.model: v2, or blendshapes.enabled: false"
        )
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
    check_preview(config.preview)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_preview(preview: PreviewConfig) -> None:
    """A page of the cabin camera off the loopback address only with a password."""
    host, _ = preview.address()
    if host not in LOOPBACK and not preview.password:
        raise DmsdError(
            f"preview.listen {preview.listen}: not a loopback address, so preview.password is needed (viewers log in "
            "as dmsd), or listen on 127.0.0.1"
        )
    if preview.keyfile and not preview.certfile:
        raise DmsdError("preview.keyfile needs preview.certfile")


def build(cls: type[T], data: object, prefix: str) -> T:  # cls: a dataclass
    """Make dataclass `cls` from a mapping, checking every key, type and range."""
    if not isinstance(data, dict):
        raise DmsdError(f"{prefix.rstrip('.') or 'the file'}: expected a mapping of keys, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("plugins")}  # type: ignore[arg-type]
    plugins = next((f.name for f in dataclasses.fields(cls) if f.metadata.get("plugins")), None)  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if plugins is not None and key not in fields and isinstance(value, dict | None):
            # A plugin's own section: checked by the plugin, where the plugins are made.
            values.setdefault(plugins, {})[key] = value or {}
            continue
        if key not in fields:
            moved = f" (moved to {MOVED[name]})" if name in MOVED else f" (allowed: {', '.join(fields)})"
            raise DmsdError(f"unknown key {name!r}{moved}")
        values[key] = _convert(hints[key], value, name, fields[key].metadata)
    return cls(**values)


def _convert(hint: object, value: object, name: str, meta: Mapping[str, object]) -> object:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
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
    choices = meta.get("choices")
    low, high = cast(float | None, meta.get("low")), cast(float | None, meta.get("high"))
    if callable(choices):
        choices = choices()
    allowed = cast(tuple[str, ...], choices or ())
    if allowed and value not in allowed:
        raise DmsdError(f"{name}: {value!r} is not allowed (allowed: {', '.join(allowed)})")
    number = cast(float, value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise DmsdError(f"{name}: {value} is out of range ({low}..{high})")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"[:80]
