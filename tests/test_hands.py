"""The palm (hand) detector: the shipped ONNX file against TensorFlow's TFLite interpreter, its contract, and what it
finds on real frames (near-infrared clips of a driver holding a phone at the ear, the bundled clip's driver pulling
the belt off his chest, and the same clip's frames where his hands are low, out of view)."""

import json

import numpy as np
import onnx
import pytest

from dmsd.errors import DmsdError
from dmsd.vision.detectors.blazeface import Detection
from dmsd.vision.hands import Hand, PalmDetector, hand_of
from harness import ROOT, SHARED
from harness.clips import grey_frames

SHIPPED = ROOT / "models" / "palms.fp32.onnx"
CALLING = SHARED / "driver_video" / "nir_incar" / "calling"


@pytest.fixture(scope="module")
def palms():
    return PalmDetector(SHIPPED)


@pytest.mark.training  # needs TensorFlow's TFLite interpreter (the train extra) and pip's download of the wheel
def test_shipped_model_agrees_with_the_tflite_interpreter_on_real_frames(tmp_path):
    from convert.palms import MAX_BOX_DIFF, MAX_LOGIT_DIFF, MAX_RELATIVE_DIFF, compare_with_tflite, frames, read_tflite

    report = compare_with_tflite(SHIPPED, read_tflite(tmp_path), frames())
    # Recorded (python -m convert.palms): 71 frames, 69 palms; boxes within 0.0003 px of 192, score logits within
    # 4e-5, 2.4e-5 relatively on every anchor; the same palms decoded on every frame, 5e-5 px apart.
    assert report["frames"] >= 60 and report["palms_tflite"] >= 40, report
    assert report["boxes_max_abs_diff_px"] <= MAX_BOX_DIFF and report["score_logits_max_abs_diff"] <= MAX_LOGIT_DIFF
    assert report["max_relative_diff_all_anchors"] <= MAX_RELATIVE_DIFF
    assert report["frames_with_same_palm_count"] == report["frames"], report


def test_convert_refuses_a_wheel_without_the_palm_model_in_one_line(tmp_path, capsys):
    import zipfile

    from convert.palms import main

    with zipfile.ZipFile(tmp_path / "fake.whl", "w") as wheel:
        wheel.writestr("mediapipe/modules/palm_detection/palm_detection_full.tflite", b"not it")
    assert main(["--wheel", str(tmp_path / "fake.whl"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no mediapipe/modules/palm_detection/palm_detection_lite.tflite in it" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_shipped_model_states_the_contract_and_takes_nchw(palms):
    proto = onnx.load(str(SHIPPED))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["dmsd.task"] == "palms" and meta["dmsd.precision"] == "fp32"
    assert json.loads(meta["dmsd.input"]) == {
        "size": [192, 192],
        "colour": "rgb",
        "layout": "NCHW",
        "scale": 1 / 255.0,
        "offset": 0.0,
    }
    layout = json.loads(meta["dmsd.detector"])
    assert layout["boxes"] == "boxes" and layout["scores"] == "scores" and layout["box_scale"] == [192.0] * 4
    assert layout["keypoints"] == 7 and layout["nms"] == {"algorithm": "weighted", "iou": 0.3}
    assert layout["anchors"]["strides"] == [8, 16, 16, 16] and layout["anchors"]["num_layers"] == 4
    assert "Apache-2.0" in meta["dmsd.licence"] and "palm_detection_lite.tflite" in meta["dmsd.source"]
    assert "mediapipe==0.10.14" in meta["dmsd.source"]
    assert [o.name for o in proto.graph.output] == ["boxes", "scores"]
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 192, 192]
    assert proto.graph.input[0].name not in {n.input[0] for n in proto.graph.node if n.op_type == "Transpose"}
    # 2016 anchors: a 24 x 24 map of 2 a cell (stride 8), a 12 x 12 map of 6 a cell (the three stride-16 layers).
    assert palms.anchors.shape == (2016, 4) and (palms.anchors[:, 2:] == 1).all()
    assert np.allclose(palms.anchors[0, :2], [0.5 / 24, 0.5 / 24])
    assert np.allclose(palms.anchors[-1, :2], [11.5 / 12, 11.5 / 12])
    assert palms.session.get_session_options().intra_op_num_threads == 1


def test_finds_the_hand_holding_a_phone_at_the_ear_in_near_infrared(palms):
    from dmsd.config import DetectorConfig
    from dmsd.vision.detectors import make_detector

    faces = make_detector(DetectorConfig(type="blazeface"))
    near, frames = 0, 0
    for clip in ("Phoning_02.avi", "Phoning_04.avi"):
        for grey in grey_frames(CALLING / clip, 5)[3:9]:
            (face,) = faces.detect(grey)
            frames += 1
            hands = palms.find(grey)
            # The hand's box reaches the face's box, beside or below it: a hand at the ear.
            near += any(
                h.hand_box.x < face.x + face.w
                and face.x < h.hand_box.x + h.hand_box.w
                and h.hand_box.y < face.y + face.h
                and h.box.y > face.y
                for h in hands
            )
    assert frames == 12 and near >= 10, near


def test_finds_a_hand_in_front_of_the_chest_where_the_belt_is_pulled(palms, clip_frames):
    # Frames 124-140: he pulls the belt off his chest; his face is at about x 185-250, y 50-125 (450 x 336).
    found = [h for grey in clip_frames[124:141] for h in palms.find(grey)]
    frames_with = sum(bool(palms.find(grey)) for grey in clip_frames[124:141])
    assert frames_with >= 5, frames_with
    chest = [h for h in found if 60 < h.box.center_x < 260 and 170 < h.box.y + h.box.h / 2 < 300]
    assert len(chest) >= 5, found
    assert all(isinstance(h, Hand) and 0.5 <= h.score <= 1 for h in found)
    assert all(h.hand_box.w > 2 * h.box.w for h in found)


def test_finds_few_hands_where_none_is_in_view(palms, clip_frames):
    # Frames 20-60 (looked at): both hands low, out of the frame. The lite model sees a palm, at scores under
    # 0.62, on a few of them (on his jacket, by the door).
    counts = [len(palms.find(grey)) for grey in clip_frames[20:61]]
    assert sum(counts) <= 10, counts  # 8 on the shipped model
    assert palms.find(np.zeros((480, 640), np.uint8)) == []


def test_takes_grey_and_colour_frames_alike(palms, clip_frames):
    import cv2

    grey = clip_frames[131]
    colour = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    a, b = palms.find(grey), palms.find(colour)
    assert len(a) == len(b) == 1 and a[0].box == b[0].box and a[0].score == pytest.approx(b[0].score, abs=1e-6)


def test_hand_box_grows_the_palm_towards_the_fingers_as_mediapipe_does():
    # A 100 px palm, wrist at the bottom, the middle finger's knuckle above: fingers up, rotation 0.
    keypoints = np.array([[150, 190], [130, 120], [150, 110], [170, 115], [185, 125], [110, 170], [100, 150]], float)
    up = hand_of(Detection(np.array([100.0, 100.0, 200.0, 200.0]), 0.9, keypoints))
    assert up.rotation == pytest.approx(0.0) and up.hand_box.w == up.hand_box.h == 260
    assert (up.hand_box.x + 130, up.hand_box.y + 130) == (150, 100)  # shifted half a palm up
    # Fingers pointing right (a hand at the ear, seen from the side): shifted half a palm right.
    keypoints = np.array([[110, 150], [180, 130], [190, 150], [185, 170], [175, 185], [130, 110], [150, 100]], float)
    right = hand_of(Detection(np.array([100.0, 100.0, 200.0, 200.0]), 0.9, keypoints))
    assert right.rotation == pytest.approx(np.pi / 2)
    assert (right.hand_box.x + 130, right.hand_box.y + 130) == (200, 150)


def test_a_model_of_another_task_is_refused_in_one_line(tmp_path):
    blazeface = ROOT / "models" / "blazeface.fp32.onnx"
    with pytest.raises(DmsdError) as refused:
        PalmDetector(blazeface)
    assert str(refused.value).startswith(f"palm model: {blazeface}: not a palm detector with the dmsd metadata")
    assert "\n" not in str(refused.value)
    with pytest.raises(DmsdError, match=r"^palm model: .*nowhere\.onnx: no such model file \(python -m convert"):
        PalmDetector(tmp_path / "nowhere.onnx")
    # The same file with its task changed: refused, not run.
    proto = onnx.load(str(SHIPPED))
    for prop in proto.metadata_props:
        if prop.key == "dmsd.task":
            prop.value = "face_detector"
    onnx.save(proto, str(tmp_path / "wrong_task.onnx"))
    with pytest.raises(DmsdError, match="not a palm detector") as refused:
        PalmDetector(tmp_path / "wrong_task.onnx")
    assert "\n" not in str(refused.value)


def test_a_chest_covered_by_hands_is_unknown_never_unbelted(palms):
    """chest.hands_unknown_above: on the frames of a call where the phone hand's box covers half the chest region,
    a "not worn" reading becomes unknown (None); a "worn" one stands; with the option off, both stand."""
    import cv2

    from dmsd.config import ChestConfig, Config
    from dmsd.vision.classifier import Classifier
    from dmsd.vision.stages.base import FACE, FrameWork
    from dmsd.vision.stages.face import FaceStage
    from dmsd.vision.stages.seatbelt import SeatbeltStage, chest_of, covered_share

    config = Config()
    chest = ChestConfig(hands_unknown_above=0.5)
    classifier = Classifier(config.models.resolve("seatbelt"), "seatbelt")
    looking, plain = SeatbeltStage(classifier, chest, palms), SeatbeltStage(classifier, chest, None)
    face_stage = FaceStage.from_config(config, video=True)
    capture = cv2.VideoCapture(str(CALLING / "Phoning_11.avi"))  # the phone hand crosses the chest at the start
    covered, unknown = 0, 0
    for index in range(16):
        ok, image = capture.read()
        assert ok
        work = FrameWork(image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), ts=index / 10)
        work.products[FACE.key] = located = face_stage.run(work)
        if located.box is None or (region := chest_of(work, chest)) is None:
            continue
        share = covered_share(region, [hand.hand_box for hand in palms.find(image)])
        reading, judged = plain.run(work), looking.run(work)
        assert reading is not None
        if share >= 0.5:
            covered += 1
            unknown += judged is None
            assert judged is None if not reading.worn else judged == reading
        else:
            assert judged == reading
    capture.release()
    assert covered >= 3 and unknown >= 1, (covered, unknown)


def test_a_missing_palm_model_names_its_key_in_one_line(tmp_path):
    """chest.hands_unknown_above on, and no palm detector where chest.hands_path says: one line, exit 2."""
    from harness import SAMPLES, run_dmsd

    config = tmp_path / "config.yaml"
    config.write_text(f"chest:\n  hands_unknown_above: 0.5\n  hands_path: {tmp_path / 'none.onnx'}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame010.jpg"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert (
        line.startswith("dmsd: chest.hands_path: ") and "no such model file (python -m convert.palms makes it)" in line
    )
