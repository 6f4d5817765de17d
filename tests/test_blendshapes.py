"""The blendshapes stage on real faces (ONNX Runtime, the shipped model), and the model contract's one-line refusals."""

import json
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest

from dmsd.config import Config, build, check
from dmsd.errors import DmsdError
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.blendshapes import BlendshapeModel
from dmsd.vision.stages.mesh import BLENDSHAPES
from harness import ROOT, SAMPLES

MODEL = ROOT / "models" / "blendshapes.fp32.onnx"


@pytest.fixture(scope="module")
def still():
    """The still-image pipeline with the defaults: the v2 mesh and the blendshapes."""
    return Analyzer.from_config(Config(), video=False)


def test_an_alert_drivers_face_reads_open_eyes_and_a_closed_jaw(still):
    """The bundled stills: the driver looks ahead, eyes open, mouth shut."""
    for name in ("cabin_frame010.jpg", "cabin_frame060.jpg", "cabin_frame110.jpg"):
        result = still.analyze(cv2.imread(str(SAMPLES / name)), name, 0.0)
        shapes = result.get(BLENDSHAPES)
        assert shapes is not None, name
        scores = np.array([getattr(shapes, field) for field in shapes.__dataclass_fields__])
        assert ((scores >= 0) & (scores <= 1)).all()
        assert shapes.blink < 0.4 and shapes.jaw_open < 0.2, (name, shapes)
        assert "blendshapes" in result.latency_ms


def test_a_face_without_a_mesh_has_no_blendshapes(still):
    result = still.analyze(cv2.imread(str(SAMPLES / "cabin_noface.jpg")), "noface", 0.0)
    assert result.get(BLENDSHAPES) is None and result.measures["blendshapes"] is None


def rewritten(tmp_path, change):
    """A copy of the shipped model with its metadata changed by `change(dict) -> dict`."""
    model = onnx.load(str(MODEL))
    meta = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    for key, value in change(meta).items():
        model.metadata_props.add(key=key, value=value)
    path = tmp_path / "blendshapes.onnx"
    onnx.save(model, str(path))
    return path


def layout(**changes):
    def change(meta):
        data = json.loads(meta["dmsd.blendshapes"])
        data.update(changes)
        return {**meta, "dmsd.blendshapes": json.dumps(data)}

    return change


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda meta: {**meta, "dmsd.task": "eyes"}, "expected 'blendshapes'"),
        (lambda meta: {k: v for k, v in meta.items() if k != "dmsd.blendshapes"}, "must be JSON with points"),
        (layout(names=["_neutral", "eyeBlinkLeft"]), "names lack eyeBlinkRight"),
        (layout(scores="nowhere"), "names input"),
        (layout(points=list(range(140))), "names 140 points"),
    ],
)
def test_a_model_off_the_contract_is_refused_in_one_line(tmp_path, change, says):
    with pytest.raises(DmsdError) as refused:
        BlendshapeModel(rewritten(tmp_path, change))
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_a_mesh_without_irises_is_refused_at_its_first_face():
    model = BlendshapeModel(MODEL)
    with pytest.raises(DmsdError, match="needs face mesh point 477, and the face mesh gives 468"):
        model.predict(np.zeros((468, 3), np.float32))


def test_the_v1_mesh_with_blendshapes_on_is_a_config_error(tmp_path):
    config = build(Config, {"landmarks": {"model": "v1"}}, "")
    with pytest.raises(DmsdError, match="blendshapes.enabled: true needs the v2 face mesh"):
        check(config)
    check(build(Config, {"landmarks": {"model": "v1"}, "blendshapes": {"enabled": False}}, ""))
    path = tmp_path / "v1.yaml"
    path.write_text("landmarks:\n  model: v1\n")
    run = subprocess.run(
        [sys.executable, "-m", "dmsd", "--config", str(path), "--once", str(SAMPLES / "cabin_frame010.jpg")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.stderr.strip().count("\n") == 0 and "landmarks.model: v2" in run.stderr


def test_the_state_carries_the_latest_frames_scores(still):
    """`<prefix>/state`'s `blendshapes`: the latest frame's, null once the face is gone."""
    from dmsd.config import StateConfig
    from dmsd.driver.state import DriverStateTracker
    from dmsd.publish.payloads import state_payload

    tracker = DriverStateTracker(StateConfig())
    tracker.update(still.analyze(cv2.imread(str(SAMPLES / "cabin_frame060.jpg")), "frame060", 1.0))
    block = state_payload(tracker.state)["blendshapes"]
    assert set(block) == {"blink", "squint", "look_down", "jaw_open", "smile"} and block["jaw_open"] < 0.2
    tracker.update(still.analyze(cv2.imread(str(SAMPLES / "cabin_noface.jpg")), "noface", 1.2))
    assert state_payload(tracker.state)["blendshapes"] is None
