"""MediaPipe's face blendshapes model as converted by convert/blendshapes.py: the shipped ONNX file against TensorFlow's
TFLite interpreter, the contract it carries, and its scores on real faces (the bundled clip's open eyes, a
near-infrared driver's shut ones), with the v2 mesh giving its input as the runtime does."""

import json
import zipfile

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from dmsd.config import DetectorConfig
from dmsd.vision.detectors import make_detector
from dmsd.vision.face_finder import make_face_finder
from dmsd.vision.geometry import Box
from dmsd.vision.landmarks import LandmarkModel
from harness import ROOT, SAMPLES, SHARED
from harness.clips import grey_frames

SHIPPED = ROOT / "models" / "blendshapes.fp32.onnx"
MESH = ROOT / "models" / "landmarks_v2.fp32.onnx"
FRAME = SAMPLES / "cabin_frame060.jpg"  # a frame of the bundled clip: the driver looks ahead, eyes open
FACE = Box(176, 83, 86, 86)  # the runtime's still-image search on FRAME (test_once checks that search)
EYES_SHUT = SHARED / "driver_video" / "nir_incar" / "eye" / "eye_closed_11.avi"  # eyes shut throughout


def frame() -> np.ndarray:
    image = cv2.imread(str(FRAME))
    assert image is not None, FRAME
    return image


def contract() -> dict:
    return json.loads({p.key: p.value for p in onnx.load(str(SHIPPED)).metadata_props}["dmsd.blendshapes"])


def scores(image: np.ndarray, face: Box) -> dict[str, float]:
    """The 52 scores by name for `face` in `image`: the v2 mesh's points as the contract orders them, frame pixels."""
    layout = contract()
    points = LandmarkModel(MESH).predict(image, face).points[layout["points"], :2].astype(np.float32)
    session = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])
    found = np.ravel(session.run([layout["scores"]], {layout["input"]: points[None]})[0])
    return dict(zip(layout["names"], map(float, found), strict=True))


@pytest.mark.training  # needs TensorFlow's TFLite interpreter (the train extra) and the Face Landmarker bundle
def test_shipped_model_agrees_with_the_tflite_interpreter_on_real_meshes(tmp_path):
    from convert import blendshapes as conversion

    if not conversion.TASK.is_file():
        pytest.skip(f"no {conversion.TASK} (MediaPipe's Face Landmarker bundle, beside this repository)")
    tflite = conversion.read_tflite(tmp_path)
    report = conversion.compare_with_tflite(SHIPPED, tflite, conversion.mesh_inputs(MESH))
    assert report["faces"] >= 29, report  # every 5th frame of the bundled clip has the driver's face
    assert report["scores_max_abs_diff"] <= conversion.MAX_SCORE_DIFF, report


def test_convert_refuses_a_task_file_without_the_model(tmp_path, capsys):
    from convert.blendshapes import main

    with zipfile.ZipFile(tmp_path / "fake.task", "w") as bundle:
        bundle.writestr("face_landmarks_detector.tflite", b"not it")
    assert main(["--task", str(tmp_path / "fake.task"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m convert.blendshapes: ") and "no face_blendshapes.tflite in it" in err
    assert not (tmp_path / "out").exists()


def test_shipped_model_states_the_contract():
    from convert.blendshapes import MESH_POINTS, SCORE_NAMES

    proto = onnx.load(str(SHIPPED))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["dmsd.task"] == "blendshapes" and meta["dmsd.precision"] == "fp32"
    assert "Apache-2.0" in meta["dmsd.licence"] and "face_blendshapes.tflite" in meta["dmsd.source"]
    layout = json.loads(meta["dmsd.blendshapes"])
    assert set(layout) == {"points", "names", "input", "scores"}
    assert layout["points"] == MESH_POINTS and layout["names"] == SCORE_NAMES
    points, names = layout["points"], layout["names"]
    assert len(points) == 146 == len(set(points)) and points == sorted(points) and max(points) == 477
    assert points[-10:] == list(range(468, 478))  # both irises: the v2 mesh's last ten points
    assert len(names) == 52 == len(set(names)) and names[0] == "_neutral" and names[-1] == "noseSneerRight"
    assert names.index("eyeBlinkLeft") == 9 and names.index("jawOpen") == 25 and names.index("mouthSmileLeft") == 44
    graph = proto.graph
    assert [i.name for i in graph.input] == [layout["input"]] and [o.name for o in graph.output] == [layout["scores"]]
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 146, 2]
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [52]


def test_scores_on_the_bundled_clips_face_say_eyes_open_and_mouth_shut():
    found = scores(frame(), FACE)
    assert all(0.0 <= value <= 1.0 for value in found.values()), found
    assert found["eyeBlinkLeft"] < 0.3 and found["eyeBlinkRight"] < 0.3, found
    assert found["jawOpen"] < 0.1, found


def test_eyes_shut_score_a_blink_far_above_open_eyes():
    if not EYES_SHUT.is_file():
        pytest.skip(f"no {EYES_SHUT}")
    config = DetectorConfig()
    search = make_face_finder(make_detector(config), config, video=False)
    grey = grey_frames(EYES_SHUT, every=10)[0]
    face = search.find(grey)
    assert face is not None
    shut, open_ = scores(grey, face), scores(frame(), FACE)
    for side in ("Left", "Right"):
        assert shut[f"eyeBlink{side}"] > 0.4 and shut[f"eyeBlink{side}"] > 3 * open_[f"eyeBlink{side}"], (shut, open_)
