"""The facial landmark model: the shipped ONNX file against TensorFlow's own TFLite interpreter, on real faces, and
what the runtime's session makes of faces, mirrors, non-faces and bad files."""

import json
import zipfile

import cv2
import numpy as np
import onnx
import pytest

from dmsd.errors import DmsdError
from dmsd.vision.geometry import Box
from dmsd.vision.landmarks import LandmarkModel
from harness import ROOT, SAMPLES

SHIPPED = ROOT / "models" / "landmarks.fp32.onnx"
FRAME = SAMPLES / "cabin_frame060.jpg"
FACE = Box(176, 83, 86, 86)  # the runtime's still-image search on FRAME (test_once checks that search)


@pytest.fixture(scope="module")
def model():
    return LandmarkModel(SHIPPED)


@pytest.mark.training  # needs TensorFlow's TFLite interpreter (the train extra) and pip's download of the wheel
def test_shipped_model_agrees_with_the_tflite_interpreter_on_real_face_crops(tmp_path):
    from convert.landmarks import MAX_DIFF_PX, compare_with_tflite, face_crops, fetch_tflite

    tflite = fetch_tflite(tmp_path)
    report = compare_with_tflite(SHIPPED, tflite, face_crops(SHIPPED))
    assert report["crops"] >= 25  # every 5th frame of the clip where the runtime finds a face
    assert report["max_px"] <= MAX_DIFF_PX and report["presence_logit_max_diff"] < 1e-3, report


def test_shipped_model_states_the_contract_and_keeps_no_transpose():
    proto = onnx.load(str(SHIPPED))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["dmsd.task"] == "landmarks" and meta["dmsd.precision"] == "fp32"
    assert json.loads(meta["dmsd.input"]) == {
        "size": [192, 192],
        "colour": "rgb",
        "layout": "NCHW",
        "scale": 1 / 255,
        "offset": 0.0,
    }
    assert json.loads(meta["dmsd.landmarks"])["points"] == 468
    assert "Apache-2.0" in meta["dmsd.licence"] and "mediapipe==0.10.14" in meta["dmsd.source"]
    assert [o.name for o in proto.graph.output] == ["landmarks", "presence"]
    assert not [n for n in proto.graph.node if n.op_type == "Transpose"]  # NCHW input, as the runtime feeds it


def test_landmarks_land_on_the_face_in_frame_pixels(model):
    image = cv2.imread(str(FRAME))
    found = model.predict(image, FACE)
    assert found.points.shape == (468, 3) and found.presence > 0.99
    grown = FACE.grown(0.25)
    inside = (
        (found.points[:, 0] >= grown.x)
        & (found.points[:, 0] <= grown.x + grown.w)
        & (found.points[:, 1] >= grown.y)
        & (found.points[:, 1] <= grown.y + grown.h)
    )
    assert inside.all()
    # A grey camera's frame gives the same points (the crop is turned to RGB, not the frame).
    grey = model.predict(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), FACE)
    assert np.abs(grey.points[:, :2] - found.points[:, :2]).mean() < 0.5


def test_a_mirrored_face_gives_the_mirrored_mesh(model):
    image = cv2.imread(str(FRAME))
    width = image.shape[1]
    found = model.predict(image, FACE)
    mirrored = model.predict(cv2.flip(image, 1), Box(width - FACE.x - FACE.w, FACE.y, FACE.w, FACE.h)).points[:, :2]
    mirrored[:, 0] = width - mirrored[:, 0]
    # As point sets (the mesh's left and right points swap places): each point has a mirrored twin nearby.
    nearest = np.sqrt(((found.points[:, None, :2] - mirrored[None]) ** 2).sum(-1)).min(axis=1)
    assert nearest.mean() < 1.5 and nearest.max() < 4
    # ...and the mesh is not symmetric about the face box itself: the same points, unmirrored, do not fit.
    unmirrored = model.predict(cv2.flip(image, 1), Box(width - FACE.x - FACE.w, FACE.y, FACE.w, FACE.h)).points
    assert np.abs(unmirrored[:, 0] - found.points[:, 0]).mean() > 8  # 16.7 px here


@pytest.mark.parametrize("box", [Box(0, 250, 80, 80), Box(350, 0, 90, 90), Box(300, 200, 100, 100)])
def test_no_face_in_the_crop_means_a_low_presence(model, box):
    assert model.predict(cv2.imread(str(FRAME)), box).presence < 0.05


def test_bad_landmark_model_files_are_one_line_naming_the_file(tmp_path):
    with pytest.raises(DmsdError, match="no such landmarks model file"):
        LandmarkModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf" * 20)
    with pytest.raises(DmsdError, match=r"junk.onnx: not a loadable ONNX model"):
        LandmarkModel(tmp_path / "junk.onnx")
    bare = onnx.load(str(SHIPPED))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(DmsdError, match=r"bare.onnx: lacks metadata dmsd.task, dmsd.input, dmsd.landmarks"):
        LandmarkModel(tmp_path / "bare.onnx")
    with pytest.raises(DmsdError, match="is a 'emotion' model, expected 'landmarks'"):
        LandmarkModel(ROOT / "models" / "emotion.fp32.onnx")


def test_convert_refuses_a_wheel_without_the_model(tmp_path, capsys):
    from convert.landmarks import main

    with zipfile.ZipFile(tmp_path / "mediapipe-0.10.14-fake.whl", "w") as wheel:
        wheel.writestr("mediapipe/__init__.py", "")
    assert main(["--wheel", str(tmp_path / "mediapipe-0.10.14-fake.whl"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m convert.landmarks: ") and "face_landmark.tflite" in err and "\n" not in err
    assert not (tmp_path / "out").exists()
