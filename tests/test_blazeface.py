"""The BlazeFace face detector plugin: the shipped ONNX file against TensorFlow's TFLite interpreter, its anchors, and
what it finds on real frames (the bundled clip, near-infrared clips of closed eyes, a cabin without a face), near a
known face, and through a config."""

import json

import cv2
import numpy as np
import onnx
import pytest

from dmsd.config import DetectorConfig, load_config
from dmsd.errors import DmsdError
from dmsd.vision.detectors import detector_types, make_detector
from dmsd.vision.detectors.blazeface import BlazefaceDetector, ssd_anchors
from dmsd.vision.detectors.haar import HaarFaceDetector
from dmsd.vision.geometry import Box, iou
from harness import ROOT, SAMPLES, SHARED, run_dmsd, write_config
from harness.clips import grey_frames

SHIPPED = ROOT / "models" / "blazeface.fp32.onnx"
TASK = SHARED.parent / "models" / "mediapipe" / "face_landmarker.task"
# Eyes shut and the head tilted: the Haar cascade finds no face on these frames.
CLOSED_TILTED = SHARED / "driver_video" / "nir_incar" / "eye" / "eye_closed_06.avi"


@pytest.fixture(scope="module")
def blazeface():
    return make_detector(DetectorConfig(type="blazeface"))


@pytest.fixture(scope="module")
def haar():
    return HaarFaceDetector(DetectorConfig())


@pytest.mark.training  # needs TensorFlow's TFLite interpreter (the train extra)
def test_shipped_model_agrees_with_the_tflite_interpreter_on_real_frames(tmp_path):
    from convert.blazeface import (
        MAX_BOX_DIFF,
        MAX_LOGIT_DIFF,
        MAX_RELATIVE_DIFF,
        compare_with_tflite,
        frames,
        model_inputs,
        read_tflite,
    )

    tflite = read_tflite(tmp_path, TASK)
    report = compare_with_tflite(SHIPPED, tflite, model_inputs(SHIPPED, frames()))
    assert report["frames"] >= 30 and report["faces_tflite"] >= 30, report
    assert report["boxes_max_abs_diff_px"] <= MAX_BOX_DIFF and report["score_logits_max_abs_diff"] <= MAX_LOGIT_DIFF
    assert report["max_relative_diff_all_anchors"] <= MAX_RELATIVE_DIFF
    assert report["frames_with_same_face_count"] == report["frames"], report


def test_convert_refuses_a_task_file_without_the_detector(tmp_path, capsys):
    import zipfile

    from convert.blazeface import main

    with zipfile.ZipFile(tmp_path / "fake.task", "w") as bundle:
        bundle.writestr("face_landmarks_detector.tflite", b"not it")
    assert main(["--task", str(tmp_path / "fake.task"), "--out", str(tmp_path / "out")]) == 2
    assert "no face_detector.tflite in it" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_shipped_model_states_the_contract_and_takes_nchw():
    proto = onnx.load(str(SHIPPED))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["dmsd.task"] == "face_detector" and meta["dmsd.precision"] == "fp32"
    assert json.loads(meta["dmsd.input"]) == {
        "size": [128, 128],
        "colour": "rgb",
        "layout": "NCHW",
        "scale": 1 / 127.5,
        "offset": -1.0,
    }
    layout = json.loads(meta["dmsd.detector"])
    assert layout["boxes"] == "boxes" and layout["scores"] == "scores" and layout["box_scale"] == [128.0] * 4
    assert "Apache-2.0" in meta["dmsd.licence"] and "face_landmarker.task" in meta["dmsd.source"]
    assert [o.name for o in proto.graph.output] == ["boxes", "scores"]
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 128, 128]
    # The input is NCHW, as the plugin feeds it: the only Transposes left reorder the four heads' outputs.
    transposes = [n for n in proto.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 4 and proto.graph.input[0].name not in {n.input[0] for n in transposes}


def test_anchors_are_laid_out_as_mediapipe_lays_them_out(blazeface):
    anchors = blazeface.anchors
    assert anchors.shape == (896, 4) and (anchors[:, 2:] == 1).all()  # fixed_anchor_size
    # Stride 8: a 16 x 16 map, 2 anchors a cell (the aspect ratio 1 and the interpolated scale), row by row.
    assert np.allclose(anchors[0, :2], [0.5 / 16, 0.5 / 16]) and np.allclose(anchors[1, :2], anchors[0, :2])
    assert np.allclose(anchors[2, :2], [1.5 / 16, 0.5 / 16]) and np.allclose(anchors[32, :2], [0.5 / 16, 1.5 / 16])
    # The three stride-16 layers share an 8 x 8 map, 6 anchors a cell.
    assert np.allclose(anchors[512:518, :2], [0.5 / 8, 0.5 / 8]) and np.allclose(anchors[518, :2], [1.5 / 8, 0.5 / 8])
    assert np.allclose(anchors[-1, :2], [7.5 / 8, 7.5 / 8])
    # Without fixed sizes the scales grow layer by layer, as SsdAnchorsCalculator's do.
    sized = ssd_anchors({**json.loads(onnx_meta("dmsd.detector"))["anchors"], "fixed_anchor_size": False})
    assert np.isclose(sized[0, 2], 0.1484375) and np.isclose(
        sized[1, 2], np.sqrt(0.1484375 * (0.1484375 + (0.75 - 0.1484375) / 3))
    )


def onnx_meta(key):
    return {p.key: p.value for p in onnx.load(str(SHIPPED)).metadata_props}[key]


def test_finds_the_face_on_the_bundled_clip_where_haar_finds_it(blazeface, haar, clip_frames):
    matched = []
    for grey in clip_frames[::10]:
        theirs, ours = haar.detect(grey), blazeface.detect(grey)
        if len(theirs) == 1:
            assert len(ours) == 1
            matched.append(iou(ours[0], theirs[0]))
    assert len(matched) >= 12 and min(matched) >= 0.5, matched
    assert np.mean(matched) >= 0.75, matched  # the Haar-like box map at work (0.59 for BlazeFace's own boxes)


def test_keypoints_and_scores_come_with_each_face(blazeface, clip_frames):
    found = blazeface.detections(clip_frames[60])
    assert len(found) == 1 and found[0].score > 0.8
    x0, y0, x1, y1 = found[0].box
    eyes = found[0].keypoints[:2]
    assert ((eyes[:, 0] > x0) & (eyes[:, 0] < x1) & (eyes[:, 1] > y0) & (eyes[:, 1] < (y0 + y1) / 2)).all()


def test_finds_closed_eyes_on_a_tilted_head_in_near_infrared_where_haar_does_not(blazeface, haar):
    frames = grey_frames(CLOSED_TILTED, 5)
    assert len(frames) >= 8 and frames[0].shape == (1280, 960)
    ours = [blazeface.detect(g) for g in frames]
    theirs = [haar.detect(g) for g in frames]
    assert sum(len(f) == 1 for f in ours) == len(frames)
    assert sum(bool(f) for f in theirs) <= len(frames) // 4
    # The same face throughout: the driver barely moves in this clip.
    assert min(iou(f[0], ours[0][0]) for f in ours) > 0.7
    assert 200 < ours[0][0].w < 500 and 200 < ours[0][0].center_x < 760


def test_finds_nothing_in_a_cabin_without_a_face(blazeface):
    grey = cv2.imread(str(SAMPLES / "cabin_noface.jpg"), cv2.IMREAD_GRAYSCALE)
    assert blazeface.detect(grey) == [] and blazeface.detections(grey) == []
    assert blazeface.detect(np.zeros((480, 640), np.uint8)) == []


def test_detect_near_finds_a_face_too_small_for_the_whole_frame(blazeface, clip_frames):
    frame = clip_frames[60]
    face = blazeface.detect(frame)[0]
    # The same pixels in the corner of a frame four times as wide and high: the whole letterboxed frame gives the
    # face 6 pixels of the model's 128, too few; a square around the known face gives it 80.
    big = np.zeros((frame.shape[0] * 4, frame.shape[1] * 4), np.uint8)
    big[: frame.shape[0], : frame.shape[1]] = frame
    assert blazeface.detect(big) == []
    near = blazeface.detect_near(big, face, 0.3, (0.6, 1.5))
    assert len(near) == 1 and iou(near[0], face) > 0.7
    # Where the face was a moment ago, a little off: found where it is now.
    moved = Box(face.x + face.w // 5, face.y - face.h // 8, face.w, face.h)
    assert iou(blazeface.detect_near(frame, moved, 0.3, (0.6, 1.5))[0], face) > 0.7
    # Only faces of the sizes asked for, and only near the known face.
    assert blazeface.detect_near(frame, face, 0.3, (1.6, 3.0)) == []
    assert blazeface.detect_near(frame, Box(0, 230, 100, 100), 0.3, (0.6, 1.5)) == []


def test_runs_in_the_tracker_on_video(blazeface, clip_frames):
    from dmsd.vision.face_finder import DriverTracker

    config = DetectorConfig(type="blazeface")
    tracker = DriverTracker(blazeface, config)
    found = [tracker.find(g) for g in clip_frames]
    assert sum(f is not None for f in found) >= 145


def test_is_a_detector_type_and_reads_its_config_section(tmp_path):
    assert {"haar", "blazeface"} <= set(detector_types())
    path = write_config(tmp_path / "c.yaml", "detector:\n  type: blazeface\n  blazeface:\n    min_score: 0.9\n")
    config = load_config(path)
    detector = make_detector(config.detector)
    assert isinstance(detector, BlazefaceDetector) and detector.blazeface.min_score == 0.9
    assert detector.path.resolve() == SHIPPED


def test_min_score_out_of_range_is_one_line_naming_the_key(tmp_path):
    path = write_config(tmp_path / "c.yaml", "detector:\n  type: blazeface\n  blazeface:\n    min_score: 1.5\n")
    with pytest.raises(DmsdError) as refused:
        make_detector(load_config(path).detector)  # the plugin checks its own keys where it is made
    assert str(refused.value) == "detector.blazeface.min_score: 1.5 is out of range (0.1..0.99)"


def test_a_missing_model_is_one_line_naming_the_key(tmp_path):
    missing = tmp_path / "nowhere" / "blazeface.onnx"
    with pytest.raises(DmsdError, match=r"^detector\.blazeface\.path: .*nowhere/blazeface\.onnx: no such model file"):
        BlazefaceDetector(DetectorConfig(type="blazeface", plugins={"blazeface": {"path": str(missing)}}))
    config = write_config(
        tmp_path / "c.yaml",
        f"detector:\n  type: blazeface\n  blazeface:\n    path: {missing}\nmqtt:\n  enabled: false\n",
    )
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"dmsd: detector.blazeface.path: {missing}: no such model file")


def test_a_model_without_the_contract_is_refused(tmp_path):
    emotion = ROOT / "models" / "emotion.fp32.onnx"
    with pytest.raises(DmsdError, match="not a face detector with the dmsd metadata"):
        BlazefaceDetector(DetectorConfig(type="blazeface", plugins={"blazeface": {"path": str(emotion)}}))
