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
from dataclasses import dataclass

from dmsd.config import option
from dmsd.vision.detectors import register, settings_of
from dmsd.vision.detectors.base import FaceDetector


@dataclass
class CentreConfig:
    share: float = option(0.33, low=0.1, high=0.9, doc="How much of the frame the face is.")


@register("centre", CentreConfig, doc="The centre plugin's own keys.")
class CentreDetector(FaceDetector):
    """Pretends the face is the middle of the frame, `share` of it: enough to prove the seam."""

    def __init__(self, config, models=None):
        self.config, self.own = config, settings_of(config, "centre", CentreConfig)

    def detect(self, grey):
        from dmsd.vision.geometry import Box

        height, width = grey.shape
        w, h = round(width * self.own.share), round(height * self.own.share)
        return [Box((width - w) // 2, (height - h) // 2, w, h)]
'''


def test_a_detector_plugin_with_keys_of_its_own_is_one_file(tmp_path):
    """A module dropped beside the Haar plugin registers itself with its own keys: `detector.type` accepts it by
    name, `detector.centre` holds its keys (documented in config.yaml's way, checked by the plugin), and a plugin
    that fails to import is logged and skipped without taking the others down."""
    (tmp_path / "centre.py").write_text(PLUGIN)
    (tmp_path / "broken.py").write_text("import a_module_that_is_not_installed\n")
    good, bad, wrong = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "wrong.yaml"
    good.write_text("detector:\n  type: centre\n  centre:\n    share: 0.5\n")
    bad.write_text("detector:\n  type: mtcnn\n")
    wrong.write_text("detector:\n  type: centre\n  centre:\n    share: 2\n")
    code = textwrap.dedent(f"""
        import json, logging, sys
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        import dmsd.vision.detectors as detectors
        detectors.__path__.append({str(tmp_path)!r})  # as if centre.py were in dmsd/vision/detectors/
        from dmsd.config import load_config
        from dmsd.errors import DmsdError
        from dmsd.vision.detectors import make_detector
        from pathlib import Path
        from scripts.config_docs import keys
        import numpy as np
        def refusal(path):
            try:
                make_detector(load_config(Path(path)).detector)
            except DmsdError as exc:
                return str(exc)
        config = load_config(Path({str(good)!r}))
        faces = make_detector(config.detector).detect(np.zeros((90, 120), np.uint8))
        print(json.dumps({{"type": type(make_detector(config.detector)).__name__,
                          "faces": [f.as_list() for f in faces],
                          "documented": [k.path for k in keys() if k.path.startswith("detector.centre")],
                          "bad": refusal({str(bad)!r}), "wrong": refusal({str(wrong)!r})}}))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["type"] == "CentreDetector" and report["faces"] == [[30, 22, 60, 45]]
    assert report["documented"] == ["detector.centre", "detector.centre.share"]
    assert report["bad"] == "detector.type: 'mtcnn' is not allowed (allowed: blazeface, centre, haar)"
    assert report["wrong"] == "detector.centre.share: 2.0 is out of range (0.1..0.9)"
    skipped = [line for line in result.stderr.splitlines() if "detector plugin broken failed to import" in line]
    assert len(skipped) == 1 and "ModuleNotFoundError" in skipped[0]


def test_the_config_module_imports_only_errors_and_geometry_nothing_of_dmsd():
    """No import circle: loading a config imports no detector plugin (nor cv2), and Box needs nothing of dmsd."""
    import ast

    for module, allowed in (("dmsd/config.py", {"dmsd.errors"}), ("dmsd/vision/geometry.py", set())):
        tree = ast.parse((ROOT / module).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert {m for m in imported if m.startswith("dmsd")} == allowed, module
    code = "import sys; from dmsd.config import load_config; load_config(None); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    modules = loaded.stdout
    assert loaded.returncode == 0 and "dmsd.vision" not in modules and "'cv2'" not in modules


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
