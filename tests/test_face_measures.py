"""Eyes, head and mouth from the face mesh, on real labelled faces: the eyes set's open and closed faces, Pointing'04's
head poses (../shared/data), and the bundled frames turned and mirrored."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dmsd.config import DetectorConfig, EyesConfig
from dmsd.vision.detectors.haar import HaarFaceDetector
from dmsd.vision.face_finder import SearchEveryFrame
from dmsd.vision.face_measures import eyes, head_pose, mouth
from dmsd.vision.geometry import Box
from dmsd.vision.landmarks import LandmarkModel
from dmsd.vision.stages.mesh import HEAD
from harness import ROOT, SAMPLES, SHARED

EYES = SHARED / "eyes" / "roboflow_eye_detector"
HEAD_POSE = SHARED / "head_pose"
FACE = Box(176, 83, 86, 86)  # the face in SAMPLES/cabin_frame060.jpg


@pytest.fixture(scope="module")
def mesh():
    """The points of the face the runtime's still-image search finds in an image file, or None."""
    model, faces = (
        LandmarkModel(ROOT / "models" / "landmarks.fp32.onnx"),
        SearchEveryFrame(HaarFaceDetector(DetectorConfig())),
    )

    def of(image: np.ndarray) -> np.ndarray | None:
        face = faces.find(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        found = model.predict(image, face) if face is not None else None
        return found.points if found is not None and found.presence >= 0.5 else None

    return of


def test_open_and_closed_faces_get_opposite_verdicts(mesh):
    """The eyes set's valid split (the threshold was chosen on its train split): 91% where a face is found."""
    with open(EYES / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "valid"]
    verdicts = {"closed": [], "open": []}
    for row in rows:
        points = mesh(cv2.imread(str(EYES / row["path"])))
        if points is not None:
            verdicts[row["eye_state"]].append(eyes(points))
    assert len(verdicts["closed"]) >= 20 and len(verdicts["open"]) >= 20
    below = EyesConfig().still_ratio_below  # the eye rule's `ratio` on a still
    right = sum(e.ratio < below for e in verdicts["closed"]) + sum(e.ratio >= below for e in verdicts["open"])
    assert right / (len(verdicts["closed"]) + len(verdicts["open"])) >= 0.85
    mean_ear = {state: np.mean([(e.left + e.right) / 2 for e in found]) for state, found in verdicts.items()}
    assert mean_ear["closed"] < 0.2 < mean_ear["open"]


def head_pose_cases(mesh) -> list[tuple[float, float, object, object]]:
    """(labelled yaw, labelled pitch, pose, mirrored pose) of every Pointing'04 image where a face is found."""
    cases = []
    with open(HEAD_POSE / "labels.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            image = cv2.imread(str(HEAD_POSE / row["path"]))
            points, flipped = mesh(image), mesh(cv2.flip(image, 1))
            if points is not None and flipped is not None:
                width, height = image.shape[1], image.shape[0]
                cases.append(
                    (
                        float(row["yaw_deg"]),
                        float(row["pitch_deg"]),
                        head_pose(points, width, height),
                        head_pose(flipped, width, height),
                    )
                )
    return cases


def test_head_pose_matches_pointing04_and_a_mirror_turns_the_other_way(mesh):
    cases = head_pose_cases(mesh)
    near = [(y, p, pose) for y, p, pose, _ in cases if abs(y) <= 45 and abs(p) <= 30]
    assert len(near) >= 80
    mae_yaw = np.mean([abs(pose.yaw - y) for y, _, pose in near])
    mae_pitch = np.mean([abs(pose.pitch - p) for _, p, pose in near])
    assert mae_yaw <= 10 and mae_pitch <= 15, (mae_yaw, mae_pitch)  # 6.6 and 11.5 degrees here
    turned = [(pose, mirrored) for y, _, pose, mirrored in cases if abs(y) >= 30]
    assert len(turned) >= 10
    assert all(np.sign(pose.yaw) == -np.sign(mirrored.yaw) for pose, mirrored in turned)


def test_roll_follows_the_head_tilting_clockwise_and_the_mouth_is_shut():
    model = LandmarkModel(ROOT / "models" / "landmarks.fp32.onnx")
    image = cv2.imread(str(SAMPLES / "cabin_frame060.jpg"))
    height, width = image.shape[:2]
    rolls = []
    for angle in (15, 0, -15):  # OpenCV turns counter-clockwise for positive angles: this tilts the head clockwise
        turn = cv2.getRotationMatrix2D((FACE.x + FACE.w / 2, FACE.y + FACE.h / 2), angle, 1.0)
        points = model.predict(cv2.warpAffine(image, turn, (width, height)), FACE).points
        rolls.append(head_pose(points, width, height).roll)
    assert rolls[0] < rolls[1] < rolls[2] and rolls[2] - rolls[0] > 20
    assert mouth(model.predict(image, FACE).points).openness < 0.2  # the driver's mouth is shut


def run_evaluate(*args: str):
    from harness import run_dmsd

    return run_dmsd("evaluate", *args)


def test_evaluate_eyes_on_the_held_out_split():
    result = run_evaluate("--task", "eyes", "--data", str(EYES), "--split", "valid", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 100 and report["faces"] >= 50 and report["n"] >= 50
    rules = {part["rule"]: part for part in report["rules"]}
    assert report["rules"][0]["rule"] == "blink_and_model" and set(rules) == {
        "blink_and_model",
        "blink",
        "model",
        "ratio",
    }
    for part in rules.values():  # every rule reads these faces; the configured one 96% (README)
        assert part["judged"] == report["n"] and part["accuracy"] >= 0.9 and part["closed_recall"] >= 0.85, part
    assert [row["threshold"] for row in report["ratio_thresholds"]][:2] == [0.15, 0.16]
    assert [row["threshold"] for row in report["blink_thresholds"]][:2] == [0.2, 0.25]


def test_evaluate_eyes_takes_closed_and_open_folders(tmp_path):
    with open(EYES / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "valid"][:30]
    for row in rows:
        folder = tmp_path / row["eye_state"]
        folder.mkdir(exist_ok=True)
        (folder / Path(row["path"]).name).write_bytes((EYES / row["path"]).read_bytes())
    report = json.loads(run_evaluate("--task", "eyes", "--data", str(tmp_path), "--json").stdout)
    assert report["images"] == 30 and report["n"] > 0


def test_evaluate_head_pose_on_pointing04():
    result = run_evaluate("--task", "head-pose", "--data", str(HEAD_POSE), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 372 and report["n"] >= 100
    near = report["in_range"]
    assert near["n"] >= 80 and near["mae_yaw_deg"] <= 10 and near["mae_pitch_deg"] <= 15


@pytest.mark.parametrize(
    "args, labels, message",
    [
        (
            ["--task", "eyes"],
            "path,eye_state\na.jpg,shut\n",
            "labels.csv:2: unknown eye_state 'shut' (allowed: closed, open)",
        ),
        (["--task", "eyes"], "path,eye_state\nmissing.jpg,open\n", "labels.csv:2: no such file missing.jpg"),
        (
            ["--task", "head-pose"],
            "path,yaw_deg,pitch_deg\na.jpg,left,0\n",
            "labels.csv:2: yaw_deg 'left' and pitch_deg",
        ),
        (["--task", "head-pose"], "path,yaw\na.jpg,0\n", "needs a header line with path,pitch_deg,yaw_deg"),
        (["--task", "eyes", "--split", "test"], "path,eye_state,split\na.jpg,open,train\n", "no rows of split 'test'"),
        (["--task", "head-pose", "--split", "valid"], "path,yaw_deg,pitch_deg\na.jpg,0,0\n", "--split only applies"),
    ],
)
def test_bad_labels_are_one_line_naming_the_row(tmp_path, args, labels, message):
    (tmp_path / "a.jpg").write_bytes((SAMPLES / "cabin_frame060.jpg").read_bytes())
    (tmp_path / "labels.csv").write_text(labels)
    result = run_evaluate(*args, "--data", str(tmp_path / "labels.csv"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("dmsd evaluate: ") and message in result.stderr


def test_evaluate_yawn_on_real_yawns():
    """YawDD's in-car frames: the jaw rule (the blendshapes' jawOpen, no smile) and the lips' openness each call no
    shut mouth a yawn; the lips catch most yawns on these stills, the jaw rule half (README, "Yawns")."""
    result = run_evaluate("--task", "yawn", "--data", str(SHARED / "yawn" / "yawdd_frames" / "labels.csv"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 160 and report["n"] >= 120 and report["yawns"] >= 55
    jaw, lips = report["jaw"], report["lips"]
    assert jaw["threshold"] == 0.25 and jaw["recall"] >= 0.45 and jaw["false_alarms"] <= 0.02
    assert lips["threshold"] == 0.3 and lips["recall"] >= 0.8 and lips["false_alarms"] <= 0.05
    assert [row["threshold"] for row in jaw["thresholds"]][:2] == [0.2, 0.25]


def test_a_still_head_does_not_flip_between_the_fits_two_poses():
    """A near-infrared driver sitting still, eyes shut, behind glasses (eye_closed_31): the six-point fit used to
    jump between two poses, about -27/-8 and -49/+25 degrees of yaw/pitch, frame after frame, and the jumps read as
    looks down that excused the closure. Fitted again from the mesh's own rough pose, it stays put."""
    from dmsd.config import load_config
    from dmsd.vision.analyzer import Analyzer

    analyzer = Analyzer.from_config(load_config(None), video=True)
    poses = []
    capture = cv2.VideoCapture(str(SHARED / "driver_video" / "nir_incar" / "eye" / "eye_closed_31.avi"))
    while True:
        ok, image = capture.read()
        if not ok:
            break
        pose = analyzer.analyze(image, "t", len(poses) / 10).get(HEAD)
        if pose is not None:
            poses.append((pose.yaw, pose.pitch))
    yaws, pitches = np.array(poses).T
    assert len(poses) >= 40
    assert np.ptp(yaws[1:]) < 10 and np.ptp(pitches[1:]) < 10, (np.ptp(yaws), np.ptp(pitches))  # was 23 and 34
