"""MediaPipe's v2 face mesh (478 points with the irises, `landmarks.model: v2`): the shipped ONNX file against
TensorFlow's own TFLite interpreter, what the runtime's session makes of the bundled clip's face, and the key that
chooses it."""

import json
import zipfile

import cv2
import numpy as np
import onnx
import pytest

from dmsd.config import Config, load_config
from dmsd.errors import DmsdError
from dmsd.vision.face_measures import POSE_POINTS
from dmsd.vision.face_mesh import ANCHORS
from dmsd.vision.geometry import Box
from dmsd.vision.landmarks import LandmarkModel
from harness import ROOT, SAMPLES

V1 = ROOT / "models" / "landmarks.fp32.onnx"
V2 = ROOT / "models" / "landmarks_v2.fp32.onnx"
FRAME = SAMPLES / "cabin_frame060.jpg"  # a frame of the bundled clip
FACE = Box(176, 83, 86, 86)  # the runtime's still-image search on FRAME (test_once checks that search)
# Each eye's contour, in order round the eye (the person's right eye first: the image's left), and its iris: the
# centre, then four points on the iris's edge.
EYE_CONTOURS = {
    "right": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "left": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
}
IRISES = {"right": (468, 469, 470, 471, 472), "left": (473, 474, 475, 476, 477)}


@pytest.fixture(scope="module")
def model():
    return LandmarkModel(V2)


@pytest.mark.training  # needs TensorFlow's TFLite interpreter (the train extra) and the Face Landmarker bundle
def test_shipped_v2_model_agrees_with_the_tflite_interpreter_on_real_face_crops(tmp_path):
    from convert import landmarks as conversion

    if not conversion.TASK.is_file():
        pytest.skip(f"no {conversion.TASK} (MediaPipe's Face Landmarker bundle, beside this repository)")
    tflite = conversion.fetch_task_tflite(tmp_path)
    report = conversion.compare_with_tflite(V2, tflite, conversion.face_crops(V2), conversion.V2.outputs)
    assert report["crops"] >= 25  # every 5th frame of the clip where the runtime finds a face
    assert report["max_px"] <= conversion.MAX_DIFF_PX and report["presence_logit_max_diff"] < 1e-3, report


def test_shipped_v2_model_states_the_contract_and_keeps_no_transpose():
    proto = onnx.load(str(V2))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["dmsd.task"] == "landmarks" and meta["dmsd.precision"] == "fp32"
    assert json.loads(meta["dmsd.input"]) == {
        "size": [256, 256],
        "colour": "rgb",
        "layout": "NCHW",
        "scale": 1 / 255,
        "offset": 0.0,
    }
    assert json.loads(meta["dmsd.landmarks"]) == {
        "points": 478,
        "landmarks": "landmarks",
        "presence": "presence",
        "crop_margin": 0.25,
    }
    assert "Apache-2.0" in meta["dmsd.licence"] and "face_landmarks_detector.tflite" in meta["dmsd.source"]
    assert [o.name for o in proto.graph.output] == ["landmarks", "presence"]  # the tongue-out score dropped
    assert not [n for n in proto.graph.node if n.op_type in ("Transpose", "Sigmoid")]


def test_v2_gives_478_points_on_the_face_with_the_irises_inside_the_eyes(model):
    found = model.predict(cv2.imread(str(FRAME)), FACE)
    assert found.points.shape == (478, 3) and found.presence > 0.99
    for side, contour in EYE_CONTOURS.items():
        outline = found.points[list(contour), :2].astype(np.float32)
        iris = found.points[list(IRISES[side]), :2]
        assert cv2.pointPolygonTest(outline, tuple(map(float, iris[0])), False) > 0, side  # the centre, inside
        radius = np.linalg.norm(iris[1:] - iris[0], axis=1)
        width = np.linalg.norm(outline[0] - outline[8])  # corner to corner
        assert (radius > 0.05 * width).all() and (radius < 0.5 * width).all(), (side, radius, width)


def test_v2_keeps_v1s_indexing_for_the_first_468_points(model):
    """face_mesh.ANCHORS and face_measures' indices hold for v2: its first 468 points land where v1's do."""
    image = cv2.imread(str(FRAME))
    v1, v2 = LandmarkModel(V1).predict(image, FACE).points, model.predict(image, FACE).points
    apart = np.linalg.norm(v2[:468, :2] - v1[:, :2], axis=1)
    assert apart.mean() < 2.5  # 1.1 px on an 86 px face; a different order would put them tens of pixels apart
    assert apart[list(ANCHORS) + list(POSE_POINTS)].max() < 5


def test_v2_presence_is_high_on_the_bundled_clips_face_and_low_elsewhere(model):
    """Every 15th frame, on the face the runtime's still-image search finds: v2 confirms the driver's face wherever v1
    does, and rejects what v1 rejects; and it rejects a headrest beside the driver (frame 90) and bare patches."""
    from dmsd.config import DetectorConfig
    from dmsd.vision.detectors.haar import HaarFaceDetector
    from dmsd.vision.face_finder import SearchEveryFrame

    v1 = LandmarkModel(V1)
    faces = SearchEveryFrame(HaarFaceDetector(DetectorConfig()))
    clip = cv2.VideoCapture(str(SAMPLES / "incabin_belted_driver.mp4"))
    confirmed, rejected = [], []
    index = 0
    while True:
        ok, frame = clip.read()
        if not ok:
            break
        if index == 90:
            headrest = frame
        face = faces.find(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)) if index % 15 == 0 else None
        if face is not None:
            said = model.predict(frame, face).presence
            (confirmed if v1.predict(frame, face).presence >= 0.5 else rejected).append(said)
        index += 1
    clip.release()
    assert len(confirmed) >= 6 and min(confirmed) > 0.99, confirmed
    assert not rejected or max(rejected) < 0.01, rejected
    assert model.predict(headrest, Box(34, 104, 101, 101)).presence < 0.01
    image = cv2.imread(str(FRAME))
    for box in (Box(0, 250, 80, 80), Box(350, 0, 90, 90), Box(300, 200, 100, 100)):
        assert model.predict(image, box).presence < 0.1


def test_landmarks_model_chooses_the_mesh_file(tmp_path):
    models = Config().models
    assert Config().landmarks.model == "v2"  # the blendshapes need its irises
    assert Config().landmarks.resolve(models).resolve() == V2.resolve()
    (tmp_path / "v1.yaml").write_text("landmarks:\n  model: v1\nblendshapes:\n  enabled: false\n")
    config = load_config(tmp_path / "v1.yaml")
    assert config.landmarks.resolve(config.models).name == "landmarks.fp32.onnx"
    (tmp_path / "own.yaml").write_text(f"landmarks:\n  model: v2\n  path: {V1}\n")
    config = load_config(tmp_path / "own.yaml")
    assert config.landmarks.resolve(config.models) == V1  # a file of your own wins


def test_a_bad_landmarks_model_is_one_line_naming_the_key_and_the_choices(tmp_path):
    (tmp_path / "bad.yaml").write_text("landmarks:\n  model: v3\n")
    with pytest.raises(DmsdError) as caught:
        load_config(tmp_path / "bad.yaml")
    message = str(caught.value)
    assert "landmarks.model: 'v3' is not allowed (allowed: v1, v2)" in message and "\n" not in message


def test_convert_v2_refuses_a_bundle_without_the_model_or_with_another(tmp_path, capsys):
    from convert.landmarks import main

    with zipfile.ZipFile(tmp_path / "empty.task", "w") as bundle:
        bundle.writestr("face_detector.tflite", b"")
    assert main(["--v2", "--task", str(tmp_path / "empty.task"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m convert.landmarks: ") and "face_landmarks_detector.tflite" in err
    assert "\n" not in err
    with zipfile.ZipFile(tmp_path / "other.task", "w") as bundle:
        bundle.writestr("face_landmarks_detector.tflite", b"another model")
    assert main(["--v2", "--task", str(tmp_path / "other.task"), "--out", str(tmp_path / "out")]) == 2
    assert "SHA-256 differs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
