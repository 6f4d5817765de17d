"""The eye-state model: the daemon's own eye patches, the model on real held-out faces and eye images, the verdict in
`--once`, `dmsd evaluate --task eyes` beside the aspect ratio, and a tiny train -> convert -> run round trip."""

import csv
import json

import cv2
import numpy as np
import pytest

from dmsd.config import Config
from dmsd.vision.eye_patches import eye_patches, eye_transform
from dmsd.vision.stages.base import FrameWork
from dmsd.vision.stages.face import FaceLocator
from harness import ROOT, SAMPLES, SHARED, run_dmsd, write_config

EYES = SHARED / "eyes" / "roboflow_eye_detector"
CEW = SHARED / "eyes" / "cew_patches"
YAWDD = SHARED / "yawn" / "yawdd_frames"
CLIP_STILLS = [SAMPLES / f"cabin_frame{n:03d}.jpg" for n in (10, 60, 110)]


def test_a_patch_levels_the_eye_corners_and_centres_the_eye():
    points = np.zeros((468, 3), np.float32)
    points[33, :2], points[133, :2] = (100, 60), (140, 80)  # a right eye tilted by 26.6 degrees
    points[362, :2], points[263, :2] = (180, 80), (220, 60)
    transform = eye_transform(points, (33, 133), 30)
    corners = np.array([[100, 60, 1], [140, 80, 1]], np.float32) @ transform.T
    assert corners[0, 1] == pytest.approx(corners[1, 1], abs=1e-4)  # level
    assert corners.mean(axis=0) == pytest.approx([15, 15], abs=1e-4)  # centred
    assert corners[1, 0] - corners[0, 0] == pytest.approx(30 / 1.5, abs=1e-3)  # the corners span 2/3 of the side
    grey = np.zeros((200, 300), np.uint8)
    assert eye_patches(grey, points, 30).shape == (2, 30, 30)


def test_the_model_reads_held_out_faces_and_the_clip_as_the_daemon_cuts_them():
    """Faces of the eye set's valid split (never trained on) through the still pipeline, and the infrared clip's
    stills (never trained on): the verdict is the model's."""
    result = run_dmsd("--once", *map(str, CLIP_STILLS))
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        eyes = json.loads(line)["eyes"]
        assert set(eyes["p_closed"]) == {"left", "right"} and eyes["closed"] is False
    with open(EYES / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "valid"][::4]
    result = run_dmsd("--once", *[str(EYES / row["path"]) for row in rows])
    judged = [
        (row["eye_state"] == "closed", json.loads(line)["eyes"])
        for row, line in zip(rows, result.stdout.splitlines(), strict=True)
    ]
    judged = [(truth, eyes["closed"]) for truth, eyes in judged if eyes]
    assert len(judged) >= 10 and np.mean([truth == said for truth, said in judged]) >= 0.85


def test_evaluate_eyes_gives_the_model_beside_the_aspect_ratio():
    result = run_dmsd("evaluate", "--task", "eyes", "--data", str(EYES), "--split", "valid", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    model = report["eye_model"]
    assert model["model"].endswith("eyes.int8.onnx") and model["n"] == report["n"] >= 50
    assert model["accuracy"] >= 0.9 and model["closed_recall"] >= 0.85 and 0.5 <= report["judged_share"] <= 1
    text = run_dmsd("evaluate", "--task", "eyes", "--data", str(EYES), "--split", "valid").stdout
    assert "eye-state model" in text and "eye aspect ratio" in text


def test_drivers_in_cars_behind_glasses_are_read_as_a_person_sees_them(tmp_path):
    """YawDD's in-car frames (many drivers behind glasses, a camera below the face), labelled open or closed by eye
    where a person can tell (tests/labels; sunglasses, glare and faces cut off left out). Glare on one lens used to
    read as a shut eye: 9 of 64 open pairs were called shut when the two eyes were averaged."""
    rows = (ROOT / "tests" / "labels" / "yawdd_eye_states.csv").read_text().splitlines()
    lines = [rows[0]] + [f"{YAWDD / row}" for row in rows[1:]]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    result = run_dmsd("evaluate", "--task", "eyes", "--data", str(tmp_path / "labels.csv"), "--json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)["eye_model"]
    assert model["n"] >= 80
    assert model["accuracy"] >= 0.93 and model["closed_recall"] >= 0.9 and model["closed_precision"] >= 0.8


def test_a_closure_needs_both_eyes_save_the_far_eye_of_a_turned_head():
    from dmsd.vision.stages.face_measures import both_shut

    assert both_shut(0.9, 0.8, (40.0, 38.0), 0.5)
    assert not both_shut(0.95, 0.3, (40.0, 38.0), 0.5)  # glare on one lens: one eye alone is not a closure
    assert not both_shut(0.3, 0.95, (40.0, 38.0), 0.5)
    assert both_shut(0.9, 0.1, (40.0, 19.0), 0.5)  # the left eye is the far one: the near eye decides
    assert not both_shut(0.1, 0.9, (40.0, 19.0), 0.5)
    assert both_shut(0.1, 0.9, (19.0, 40.0), 0.5)
    assert not both_shut(0.9, 0.49, (40.0, 21.0), 0.5)  # just over half as wide: still counted


def test_evaluate_eyes_takes_an_eye_patch_set(tmp_path):
    with open(CEW / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[::50]
    lines = ["path,eye_state"] + [f"{CEW / row['path']},{row['eye_state']}" for row in rows]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    result = run_dmsd("evaluate", "--task", "eyes", "--patches", "--data", str(tmp_path / "labels.csv"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["patches"] is True and report["n"] == len(rows) and report["accuracy"] >= 0.8
    refused = run_dmsd("evaluate", "--task", "seatbelt", "--patches", "--data", str(tmp_path / "labels.csv"))
    assert refused.returncode == 2 and refused.stderr.strip().endswith("--patches only applies to --task eyes")


def test_without_the_model_the_aspect_ratio_decides(tmp_path):
    config = write_config(tmp_path / "c.yaml", "eyes:\n  model: false\n")
    result = run_dmsd("--config", str(config), "--once", str(CLIP_STILLS[1]))
    eyes = json.loads(result.stdout)["eyes"]
    assert "p_closed" not in eyes and eyes["closed"] == ((eyes["left"] + eyes["right"]) / 2 < 0.2625)


def test_a_missing_eye_model_is_one_line(tmp_path):
    config = write_config(tmp_path / "c.yaml", f"models:\n  eyes:\n    path: {tmp_path / 'none.onnx'}\n")
    result = run_dmsd("--config", str(config), "--once", str(CLIP_STILLS[0]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"dmsd: {tmp_path / 'none.onnx'}: no such model file (copy models/eyes.int8.onnx there, set models.eyes.path, "
        "or eyes.model: false)"
    )


def test_both_eyes_run_as_one_batch():
    from dmsd.vision.stages.face_measures import EyesStage

    stage = EyesStage.from_config(Config(), video=False)
    assert stage is not None and stage.model is not None
    image = cv2.imread(str(CLIP_STILLS[1]))
    frame = FrameWork(image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    frame.products["face"] = FaceLocator.from_config(Config(), video=False).run(frame)
    calls = []
    run = stage.model.run
    stage.model.run = lambda tensor: calls.append(tensor.shape) or run(tensor)
    eyes = stage.run(frame)
    assert calls == [(2, 1, stage.model.input.height, stage.model.input.width)]
    assert eyes.p_closed_left is not None and eyes.p_closed_right is not None


@pytest.mark.training
def test_train_convert_and_run_an_eye_model(tmp_path):
    """One epoch on a few hundred real patches (two sources), then the real convert tooling and the daemon."""
    from convert.__main__ import convert
    from train.__main__ import main as train_main

    run = tmp_path / "run"
    argv = ["eyes", "--data", str(SHARED), "--sources", "cew_patches,eye_closeups", "--out", str(run)]
    assert train_main([*argv, "--epochs", "1", "--limit", "200", "--width", "4"]) == 0
    assert json.loads((run / "dataset.json").read_text())["cew_patches"]["patches"] == 4846
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_source"]) == {"cew_patches", "eye_closeups"}
    report = convert(run, tmp_path / "models", calib_size=64, method="minmax", quant_format="qdq", per_channel=True)
    assert report["int8"]["top1_agreement_vs_keras"] >= 0.8
    config = write_config(
        tmp_path / "c.yaml", f"models:\n  eyes:\n    path: {tmp_path / 'models' / 'eyes.int8.onnx'}\n"
    )
    result = run_dmsd("--config", str(config), "--once", str(CLIP_STILLS[1]), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["eyes"]["p_closed"]) == {"left", "right"}
    bad = train_main(["eyes", "--sources", "nope", "--out", str(tmp_path / "bad")])
    assert bad == 2 and not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    "video",
    [
        SAMPLES / "incabin_belted_driver.mp4",
        SHARED / "driver_video" / "incluit" / "video1.mp4",
        SHARED / "driver_video" / "incluit" / "video3.mp4",
    ],
    ids=["clip", "incluit1", "incluit3"],
)
def test_attentive_drivers_on_real_video_raise_no_drowsiness_alarm(video):
    """Awake drivers (infrared in a car; RGB indoors, blinking, looking down at the lap and aside): no microsleep,
    asleep, drowsy or yawn. incluit video1's long look at the lap is a distraction, not sleep."""
    result = run_dmsd("--source", str(video), "--no-mqtt", "--print")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line)["payload"]["type"] for line in result.stdout.splitlines() if "/events" in line]
    assert "driver_present" in events
    assert not {"microsleep", "asleep", "drowsy", "yawn"} & set(events), events
    if video.name == "video1.mp4":
        assert "distracted" in events
