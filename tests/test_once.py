"""`dmsd --once`: real images through the real pipeline, and every kind of bad input."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness import SAMPLES, SHARED, run_dmsd, write_config

FRAMES = [SAMPLES / f"cabin_frame{i:03d}.jpg" for i in (10, 60, 110)]
LABELS = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}


def lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_faces_emotion_and_belt_on_real_frames():
    result = run_dmsd("--once", *map(str, FRAMES))
    assert result.returncode == 0, result.stderr
    outputs = lines(result.stdout)
    assert [o["source"] for o in outputs] == [str(p) for p in FRAMES]
    # The clip's driver is belted: most stills say so (a still has no smoothing; the model card gives the rate).
    assert sum(o["seatbelt"]["worn"] for o in outputs) >= 2
    for out in outputs:
        x, y, w, h = out["face"]["box"]
        # The driver's face in these frames is around (170-185, 75-85), 86-94 px wide.
        assert 150 < x < 200 and 60 < y < 100 and 70 < w < 110 and h == w
        assert out["emotion"]["label"] in LABELS
        assert set(out["emotion"]["probs"]) == LABELS
        assert abs(sum(out["emotion"]["probs"].values()) - 1) < 1e-3
        assert out["emotion"]["confidence"] == max(out["emotion"]["probs"].values())
        assert isinstance(out["seatbelt"]["worn"], bool) and 0.5 <= out["seatbelt"]["confidence"] <= 1
        assert set(out["latency_ms"]) == {"detect", "landmarks", "emotion", "seatbelt", "eyes", "blendshapes", "total"}
        assert out["ts"] > 1.7e9
        # The face mesh's measures: the driver looks ahead with the camera off to the side (about 30 degrees of yaw).
        assert (
            set(out["eyes"]) == {"left", "right", "p_closed", "width", "lens", "glare"}
            and 0.1 < out["eyes"]["left"] < 0.4
        )
        # The eye rule on the still alone (no history): this awake driver's eyes are open.
        assert out["still_verdict"] == {"eyes": "open"}
        assert out["blendshapes"]["jaw_open"] < 0.2 and max(out["blendshapes"]["blink"].values()) < 0.4
        assert 20 < out["head"]["yaw"] < 45 and abs(out["head"]["pitch"]) < 20 and abs(out["head"]["roll"]) < 20
        assert 0 <= out["mouth"]["openness"] < 0.2


def test_landmarks_off_leaves_the_new_blocks_null_and_nothing_else_changes(tmp_path):
    config = write_config(tmp_path / "c.yaml", "landmarks:\n  enabled: false\n")
    off = lines(run_dmsd("--config", str(config), "--once", *map(str, FRAMES)).stdout)
    on = lines(run_dmsd("--once", *map(str, FRAMES)).stdout)
    for a, b in zip(off, on, strict=True):
        assert a["eyes"] is None and a["head"] is None and a["mouth"] is None and a["blendshapes"] is None
        assert a["still_verdict"] == {"eyes": None}
        assert set(a["latency_ms"]) == {"detect", "emotion", "seatbelt", "total"}
        assert (a["face"], a["emotion"], a["seatbelt"]) == (b["face"], b["emotion"], b["seatbelt"])


def test_no_face_gives_nulls_and_exit_0():
    result = run_dmsd("--once", str(SAMPLES / "cabin_noface.jpg"))
    assert result.returncode == 0, result.stderr
    (out,) = lines(result.stdout)
    assert out["face"] is None and out["emotion"] is None and out["seatbelt"] is None
    assert out["eyes"] is None and out["head"] is None and out["mouth"] is None and out["blendshapes"] is None


def test_directory_input_and_annotation(tmp_path):
    result = run_dmsd("--once", str(SAMPLES), "--annotate", str(tmp_path / "drawn"))
    assert result.returncode == 0, result.stderr
    outputs = lines(result.stdout)
    assert len(outputs) == 4  # the three frames and the no-face crop; the clip is not an image
    for out in outputs:
        drawn = cv2.imread(str(tmp_path / "drawn" / (out["source"].rsplit("/", 1)[1].rsplit(".", 1)[0] + ".jpg")))
        original = cv2.imread(out["source"])
        assert drawn is not None and drawn.shape == original.shape
        assert np.abs(drawn.astype(int) - original.astype(int)).max() > 100  # something was drawn on it


def test_person_crops_from_shared_data():
    folder = SHARED / "seatbelt" / "person_crops" / "crops"
    files = sorted(folder.iterdir())[:6]
    result = run_dmsd("--once", *map(str, files))
    assert result.returncode == 0, result.stderr
    assert len(lines(result.stdout)) == 6


def make_bad_inputs(tmp: Path) -> dict:
    bad = {}
    bad["missing"] = (tmp / "missing.jpg", "no such file")
    (tmp / "empty.jpg").write_bytes(b"")
    bad["empty"] = (tmp / "empty.jpg", "empty file")
    data = (SAMPLES / "cabin_frame060.jpg").read_bytes()
    (tmp / "truncated.jpg").write_bytes(data[: len(data) // 2])
    bad["truncated"] = (tmp / "truncated.jpg", "truncated JPEG")
    png = cv2.imencode(".png", cv2.imread(str(SAMPLES / "cabin_frame060.jpg")))[1].tobytes()
    (tmp / "truncated.png").write_bytes(png[: len(png) // 2])
    bad["truncated_png"] = (tmp / "truncated.png", "truncated PNG")
    (tmp / "notes.jpg").write_text("this is not an image\n")
    bad["not_image"] = (tmp / "notes.jpg", "not a readable image")
    cv2.imwrite(str(tmp / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    bad["1x1"] = (tmp / "tiny.png", "image is 1x1, too small to hold a face")
    cv2.imwrite(str(tmp / "huge.jpg"), np.zeros((9000, 9000), np.uint8))
    bad["9000x9000"] = (tmp / "huge.jpg", "9000x9000 is over the 50-megapixel limit")
    (tmp / "no_images").mkdir()
    (tmp / "no_images" / "readme.txt").write_text("nothing here")
    bad["empty_dir"] = (tmp / "no_images", "no images in this directory")
    return bad


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return make_bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(
    "kind", ["missing", "empty", "truncated", "truncated_png", "not_image", "1x1", "9000x9000", "empty_dir"]
)
def test_bad_input_gets_one_line_and_exit_2(bad_inputs, kind):
    path, message = bad_inputs[kind]
    result = run_dmsd("--once", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr  # exactly one line
    assert result.stderr.startswith(f"dmsd: {path}: ") and message in result.stderr


def test_good_results_still_printed_beside_bad_ones(bad_inputs):
    bad = [str(bad_inputs[k][0]) for k in ("missing", "truncated", "1x1")]
    result = run_dmsd("--once", str(FRAMES[0]), *bad, str(FRAMES[1]))
    assert result.returncode == 2
    assert [o["source"] for o in lines(result.stdout)] == [str(FRAMES[0]), str(FRAMES[1])]
    assert len(result.stderr.strip().splitlines()) == 3
    assert "Traceback" not in result.stderr


def test_runs_from_any_directory_of_a_checkout(tmp_path):
    """No config.yaml there and a relative models.dir: the checkout's own models/ are found."""
    result = run_dmsd("--once", str(FRAMES[0]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout)[0]["emotion"] is not None


def test_annotate_draws_the_head_direction_and_the_eyes(tmp_path):
    frame = SAMPLES / "cabin_frame060.jpg"
    off = write_config(tmp_path / "off.yaml", "landmarks:\n  enabled: false\n")
    result = run_dmsd("--once", str(frame), "--annotate", str(tmp_path / "on"))
    run_dmsd("--config", str(off), "--once", str(frame), "--annotate", str(tmp_path / "off"))
    x, y, w, h = lines(result.stdout)[0]["face"]["box"]
    on_image, off_image = (cv2.imread(str(tmp_path / name / "cabin_frame060.jpg")) for name in ("on", "off"))
    inside = (slice(y + 5, y + h - 5), slice(x + 5, x + w - 5))  # the arrow starts at the face's centre
    changed = np.abs(on_image[inside].astype(int) - off_image[inside].astype(int)).max(axis=2) > 100
    assert changed.sum() > 20
    # The arrow points where the face turns: to the image's left here (yaw about +33 degrees).
    columns = np.nonzero(changed.any(axis=0))[0]
    assert columns.min() < w // 2 - 15
