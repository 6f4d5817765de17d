"""The eye-state model: the daemon's own eye patches, the model on real held-out faces and eye images, the verdict in
`--once`, `dmsd evaluate --task eyes` beside the aspect ratio, and a tiny train -> convert -> run round trip."""

import csv
import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from dmsd.config import Config
from dmsd.labels import EYE_LABELS
from dmsd.vision.eye_patches import eye_patches, eye_transform
from dmsd.vision.stages.base import FACE, FrameWork
from dmsd.vision.stages.face import FaceStage
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
    stills (never trained on): the eye rule's still verdict (the blink score and the model agreeing)."""
    result = run_dmsd("--once", *map(str, CLIP_STILLS))
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        out = json.loads(line)
        assert set(out["eyes"]["p_closed"]) == {"left", "right"} and out["still_verdict"]["eyes"] == "open"
    with open(EYES / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "valid"][::4]
    result = run_dmsd("--once", *[str(EYES / row["path"]) for row in rows])
    judged = [
        (row["eye_state"] == "closed", json.loads(line)["still_verdict"]["eyes"])
        for row, line in zip(rows, result.stdout.splitlines(), strict=True)
    ]
    judged = [(truth, verdict == "closed") for truth, verdict in judged if verdict]
    assert len(judged) >= 10 and np.mean([truth == said for truth, said in judged]) >= 0.85


def test_evaluate_eyes_gives_each_rule_beside_the_others():
    """The configured rule first, then the blink score alone, the eye-state model alone and the aspect ratio."""
    result = run_dmsd("evaluate", "--task", "eyes", "--data", str(EYES), "--split", "valid", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["eye_model"].endswith("eyes.int8.onnx") and report["blendshapes"].endswith("blendshapes.fp32.onnx")
    rules = {part["rule"]: part for part in report["rules"]}
    assert [part["rule"] for part in report["rules"]] == ["blink_and_model", "blink", "model", "ratio"]
    assert rules["model"]["judged"] == report["n"] >= 50 and 0.5 <= report["judged_share"] <= 1
    assert rules["model"]["accuracy"] >= 0.9 and rules["model"]["closed_recall"] >= 0.85
    assert rules["blink_and_model"]["accuracy"] >= 0.9 and rules["blink_and_model"]["closed_precision"] >= 0.95
    text = run_dmsd("evaluate", "--task", "eyes", "--data", str(EYES), "--split", "valid").stdout
    assert "rule blink_and_model (configured)" in text and "blink score alone" in text


def test_drivers_in_cars_behind_glasses_are_read_as_a_person_sees_them(tmp_path):
    """YawDD's in-car frames (many drivers behind glasses, a camera below the face), labelled open or closed by eye
    where a person can tell (tests/labels; sunglasses, glare and faces cut off left out). Glare on one lens used to
    read as a shut eye: 9 of 64 open pairs were called shut when the two eyes were averaged."""
    rows = (ROOT / "tests" / "labels" / "yawdd_eye_states.csv").read_text().splitlines()
    lines = [rows[0]] + [f"{YAWDD / row}" for row in rows[1:]]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    result = run_dmsd("evaluate", "--task", "eyes", "--data", str(tmp_path / "labels.csv"), "--json")
    assert result.returncode == 0, result.stderr
    rules = {part["rule"]: part for part in json.loads(result.stdout)["rules"]}
    assert rules["model"]["judged"] >= 80
    for name in ("blink_and_model", "model"):  # the default rule, and the model alone
        rule = rules[name]
        assert rule["accuracy"] >= 0.95 and rule["closed_recall"] >= 0.85 and rule["closed_precision"] >= 0.9, rule


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


def test_without_the_model_the_blink_score_decides_and_the_ratio_rule_takes_a_fixed_threshold(tmp_path):
    config = write_config(tmp_path / "c.yaml", "eyes:\n  model: false\n")
    out = json.loads(run_dmsd("--config", str(config), "--once", str(CLIP_STILLS[1])).stdout)
    blink = (out["blendshapes"]["blink"]["left"] + out["blendshapes"]["blink"]["right"]) / 2
    assert "p_closed" not in out["eyes"] and out["still_verdict"]["eyes"] == ("closed" if blink >= 0.25 else "open")
    config = write_config(tmp_path / "r.yaml", "eyes:\n  model: false\n  rule: ratio\n")
    out = json.loads(run_dmsd("--config", str(config), "--once", str(CLIP_STILLS[1])).stdout)
    ratio = (out["eyes"]["left"] + out["eyes"]["right"]) / 2
    assert out["still_verdict"]["eyes"] == ("closed" if ratio < 0.2625 else "open")


def test_a_missing_eye_model_is_one_line(tmp_path):
    config = write_config(tmp_path / "c.yaml", f"models:\n  eyes:\n    path: {tmp_path / 'none.onnx'}\n")
    result = run_dmsd("--config", str(config), "--once", str(CLIP_STILLS[0]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"dmsd: {tmp_path / 'none.onnx'}: no such model file (copy models/eyes.int8.onnx there, set models.eyes.path, "
        "or eyes.model: false)"
    )


def test_both_eyes_run_as_one_batch():
    from dmsd.vision.stages.mesh import EyesStage

    stage = EyesStage.from_config(Config(), video=False)
    assert stage is not None and stage.model is not None
    image = cv2.imread(str(CLIP_STILLS[1]))
    frame = FrameWork(image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    frame.products[FACE.key] = FaceStage.from_config(Config(), video=False).run(frame)
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


def test_mrl_eyes_are_split_by_subject():
    """MRL's near-infrared crops: a fixed fifth of the people held out as test, never in train or valid, and each
    crop resized and stretched as the other patch sets are."""
    from dmsd.vision.eye_patches import stretch
    from train import eyes_data

    root = SHARED / "eyes" / "mrl_eyes_nir"
    out = eyes_data.EyeSet([], [], [], [], [])
    report = eyes_data.mrl_set(root, 32, out)
    assert report["patches"] == report["rows"] == 6262
    subjects = {split: {g for g, s in zip(out.group, out.split, strict=True) if s == split} for split in report}
    assert subjects["test"] == set(eyes_data.MRL_TEST) and subjects["valid"] == set(eyes_data.MRL_VALID)
    assert len(subjects["train"]) == 30 - 6 - 5 and not subjects["train"] & (subjects["test"] | subjects["valid"])
    assert 0.15 <= report["test"] / report["patches"] <= 0.25
    assert {patch.shape for patch in out.x} == {(32, 32)} and set(out.source) == {"mrl_eyes_nir"}
    with open(root / "labels.csv", newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    crop = cv2.imread(str(root / first["path"]), cv2.IMREAD_GRAYSCALE)
    assert crop is not None and np.array_equal(
        out.x[0], stretch(cv2.resize(crop, (32, 32), interpolation=cv2.INTER_AREA))
    )


def test_car_eye_labels_name_real_frames_and_hold_people_out():
    """train/labels/car_eyes.csv: each eye of real drivers' frames labelled by eye; the held-out people are a
    near-infrared one and two colour ones, and every labelled clip is in the shared data."""
    from train import eyes_data

    rows = eyes_data.read_car_labels(eyes_data.CAR_LABELS)
    assert {row["label"] for row in rows} == {"open", "closed", "unknown"} and {r["eye"] for r in rows} == {
        "right",
        "left",
    }
    frames = {(row["clip"], row["frame"]) for row in rows}
    assert len(rows) == 2 * len(frames) >= 1000  # both eyes of every frame
    assert all((SHARED / clip).is_file() for clip, _ in frames)
    people = {row["clip"]: row["person"] for row in rows}
    assert len(set(people.values())) >= 8 and all(people[row["clip"]] == row["person"] for row in rows)
    known = [row for row in rows if row["label"] != "unknown"]
    test = [row for row in known if eyes_data.car_split(row["person"]) == "test"]
    assert {row["person"] for row in test} == {"nir_C", "yawdd_46", "nitymed_1"}  # infrared, colour, colour at night
    assert {row["label"] for row in test} == {"open", "closed"}
    assert sum(row["label"] == "closed" for row in known) >= 250 and sum(row["label"] == "open" for row in known) >= 450


def test_car_eyes_are_cut_again_from_the_clips_by_the_daemons_pipeline(tmp_path):
    """The trainer keeps no pixels: it cuts each labelled eye from the clip again (v2 mesh, every frame tracked),
    and leaves unknown eyes out."""
    from train import eyes_data

    clip = "driver_video/nir_incar/eye/eye_closed_13.avi"
    rows = [row for row in eyes_data.read_car_labels(eyes_data.CAR_LABELS) if row["clip"] == clip]
    labels = tmp_path / "car.csv"
    with open(labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = eyes_data.EyeSet([], [], [], [], [])
    config = Config(landmarks=replace(Config().landmarks, model="v2"))
    report = eyes_data.car_set(SHARED, 32, out, config, labels)
    known = [row for row in rows if row["label"] != "unknown"]
    assert report["no_mesh"] == 0 and report["patches"] == len(out.x) == len(known) >= 10
    assert set(out.split) == {"test"} and set(out.group) == {"nir_C"}  # person C is held out
    assert out.y == [EYE_LABELS.index(row["label"]) for row in known]
    assert {patch.shape for patch in out.x} == {(32, 32)}


def test_the_shipped_model_on_mrl_people_it_never_saw(tmp_path):
    """`dmsd evaluate --task eyes --patches --subjects`: the near-infrared MRL people held out as test (train's
    MRL_TEST, never trained on; model card "Eye state": 92.7%, the model before them 86.0%)."""
    from train.eyes_data import MRL_TEST

    mrl = SHARED / "eyes" / "mrl_eyes_nir" / "labels.csv"
    args = ["evaluate", "--task", "eyes", "--patches", "--data", str(mrl), "--subjects", ",".join(MRL_TEST)]
    result = run_dmsd(*args, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["subjects"] == list(MRL_TEST) and report["n"] == 1321 and report["accuracy"] >= 0.92
    assert "(subjects s0006" in run_dmsd(*args).stdout  # the text report names them too
    nobody = run_dmsd("evaluate", "--task", "eyes", "--patches", "--data", str(mrl), "--subjects", "s9999")
    assert nobody.returncode == 2 and nobody.stderr.count("\n") == 1 and "no rows of subject s9999" in nobody.stderr
    wrong = run_dmsd("evaluate", "--task", "yawn", "--data", str(mrl), "--subjects", "s0006")
    assert wrong.returncode == 2 and wrong.stderr.strip().endswith("--subjects only applies to --task eyes")
