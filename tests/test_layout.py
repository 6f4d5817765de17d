"""The package's shape: the hot path stays light, a detector plugin is one file, and a plain `pip install .` (as
systemd/install.sh runs it) carries every subpackage and runs."""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

from harness import CLIP, ROOT, SAMPLES

RUNTIME_ROOMS = ("frames", "vision", "driver", "publish", "commands", "offline")


def modules_loaded_by(argv: list[str]) -> list[str]:
    """Run the real dmsd command line in a fresh interpreter; the modules it had loaded when it returned."""
    code = textwrap.dedent(f"""
        import json, sys
        from dmsd.commands.cli import main
        code = main({argv!r})
        print(json.dumps({{"rc": code, "modules": sorted(sys.modules)}}), file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["rc"] == 0, result.stderr
    return report["modules"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--source", str(CLIP), "--max-frames", "20", "--no-mqtt", "--print"],
        ["--once", str(SAMPLES / "cabin_frame060.jpg")],
    ],
    ids=["daemon", "once"],
)
def test_the_hot_path_never_imports_offline_helpers_or_training(argv):
    modules = modules_loaded_by(argv)
    assert "dmsd.commands.daemon" in modules or "dmsd.commands.once" in modules
    heavy = [
        m
        for m in modules
        if m.startswith(
            (
                "dmsd.offline",
                "dmsd.commands.bench",
                "dmsd.commands.evaluate",
                "train",
                "convert",
                "tensorflow",
                "keras",
                "onnx.",
            )
        )
    ]
    assert heavy == []


PLUGIN = '''
from dmsd.vision.detectors import register
from dmsd.vision.detectors.base import FaceDetector


@register("centre")
class CentreDetector(FaceDetector):
    """Pretends the face is the middle third of the frame: enough to prove the seam."""

    def __init__(self, config):
        self.config = config

    def detect(self, grey):
        from dmsd.vision.geometry import Box

        height, width = grey.shape
        return [Box(width // 3, height // 3, width // 3, height // 3)]
'''


def test_a_detector_plugin_is_one_file(tmp_path):
    """A module dropped beside the Haar plugin registers itself, and `detector.type` accepts it by name."""
    (tmp_path / "centre.py").write_text(PLUGIN)
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("detector:\n  type: centre\n")
    bad.write_text("detector:\n  type: mtcnn\n")
    code = textwrap.dedent(f"""
        import json, sys
        import dmsd.vision.detectors as detectors
        detectors.__path__.append({str(tmp_path)!r})  # as if centre.py were in dmsd/vision/detectors/
        from dmsd.config import load_config
        from dmsd.errors import DmsdError
        from dmsd.vision.detectors import make_detector
        from pathlib import Path
        import numpy as np
        config = load_config(Path({str(good)!r}))
        faces = make_detector(config.detector).detect(np.zeros((90, 120), np.uint8))
        try:
            load_config(Path({str(bad)!r}))
            refusal = None
        except DmsdError as exc:
            refusal = str(exc)
        print(json.dumps({{"type": type(make_detector(config.detector)).__name__,
                          "faces": [f.as_list() for f in faces], "refusal": refusal}}))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["type"] == "CentreDetector" and report["faces"] == [[40, 30, 40, 30]]
    assert report["refusal"] == f"{bad}: detector.type: 'mtcnn' is not allowed (allowed: blazeface, centre, haar)"


def test_both_publishers_meet_the_publisher_interface():
    from dmsd.config import MqttConfig
    from dmsd.publish.mqtt import MqttPublisher
    from dmsd.publish.printer import JsonLinesPrinter
    from dmsd.publish.publisher import Publisher

    wanted = [name for name in dir(Publisher) if not name.startswith("_")]
    assert set(wanted) == {"queued_events", "dropped_events", "start", "state", "event", "stats", "close"}
    mqtt = MqttPublisher(MqttConfig(outbox=None), "dms/x", "dmsd-test", "test")
    # mypy (make lint) checks the types where make_publishers lists them as Publishers; here, the same methods take
    # the same parameters at run time.
    for publisher in (JsonLinesPrinter("dms/x"), mqtt):
        for name in wanted:
            promised = getattr(Publisher, name)
            if callable(promised):
                expected = list(inspect.signature(promised).parameters)[1:]
                assert list(inspect.signature(getattr(publisher, name)).parameters) == expected, name
        assert publisher.queued_events == 0 and publisher.dropped_events == 0


def test_a_plain_pip_install_carries_every_subpackage_and_runs(tmp_path):
    """What systemd/install.sh does (`pip install` of the checkout, not editable), into a folder of its own, then
    `dmsd --once` from that install with the checkout out of the way."""
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    for room in RUNTIME_ROOMS + ("vision/detectors",):
        shipped = {p.name for p in (ROOT / "dmsd" / room).glob("*.py")}
        installed = {p.name for p in (site / "dmsd" / room).glob("*.py")}
        assert shipped and installed == shipped, room
    shipped_data = {p.name for p in (ROOT / "dmsd").rglob("*.html")}  # files the runtime serves (the preview page)
    assert shipped_data and shipped_data == {p.name for p in (site / "dmsd").rglob("*.html")}
    config = tmp_path / "config.yaml"
    config.write_text(f"models:\n  dir: {ROOT / 'models'}\nmqtt:\n  enabled: false\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import dmsd; print(dmsd.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert where.stdout.strip() == str(site / "dmsd" / "__init__.py")
    result = subprocess.run(
        [str(site / "bin" / "dmsd"), "--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["face"] is not None
