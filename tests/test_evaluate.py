"""`dmsd evaluate` on real labeled data, through the daemon's own code path."""

import gzip
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness import CLIP, ROOT, SAMPLES, SHARED, run_dmsd

FER = SHARED / "fer2013" / "fer2013.csv.gz"
PERSON_CROPS = SHARED / "seatbelt" / "person_crops"
# The shipped emotion model (issue 33: four views of each face) on the first 600 PublicTest faces: 70.0% INT8, 69.8%
# FP32 (the model before it: 65.8%). This floor is a regression guard with margin, not the measurement (that is all of
# PublicTest, in the card).
EMOTION_FLOOR = 0.64
# The shipped seatbelt model (INT8), through the whole pipeline (issue 30: the 2.0 x 1.2 chest region, trained with
# the real clips' frames): person_crops valid 71.4% where a face is found (112 of 125), not-worn recall 43.8%; the
# bundled clip against its true labels 93.2% (all 124 belted frames, none of the 9 unbelted ones); the held-out
# near-infrared driver nir_C 95.8% of frames read not worn. Floors with margin (one person_crops image is 0.9 points,
# one unbelted one 2.1): the model card has the measurement.
SEATBELT_FLOORS = {
    "crops_faces": 0.80,
    "crops_accuracy": 0.65,
    "crops_not_worn_recall": 0.35,
    "bundled": 0.88,
    "nir_c": 0.85,
}
NIR_C_CLIPS = (
    "eye/eye_closed_12.avi",
    "eye/eye_closed_13.avi",
    "mouth/yawn_05.avi",
    "mouth/yawn_06.avi",
    "calling/Phoning_03.avi",
)


@pytest.fixture(scope="module")
def public_slice(tmp_path_factory):
    path = tmp_path_factory.mktemp("fer") / "public600.csv"
    with gzip.open(FER, "rt") as handle:
        header = next(handle)
        rows = [line for line in handle if line.rstrip().endswith(",PublicTest")][:600]
    path.write_text(header + "".join(rows))
    return path


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_shipped_emotion_model_above_its_floor(public_slice, precision):
    result = run_dmsd(
        "evaluate",
        "--task",
        "emotion",
        "--data",
        str(public_slice),
        "--json",
        "--model",
        str(ROOT / "models" / f"emotion.{precision}.onnx"),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"n", "accuracy", "macro_f1", "per_class", "confusion", "labels"} <= set(report)
    assert report["n"] == 600 and sum(map(sum, report["confusion"])) == 600
    assert report["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert report["accuracy"] >= EMOTION_FLOOR
    correct = sum(report["confusion"][i][i] for i in range(7))
    assert report["accuracy"] == round(correct / 600, 4)


def test_usage_picks_a_split_and_the_text_report(public_slice):
    result = run_dmsd("evaluate", "--task", "emotion", "--data", str(public_slice), "--usage", "PublicTest")
    assert result.returncode == 0, result.stderr
    assert "faces 600 (PublicTest)" in result.stdout and "confusion (rows: true" in result.stdout
    empty = run_dmsd("evaluate", "--task", "emotion", "--data", str(public_slice), "--usage", "Training")
    assert empty.returncode == 2 and empty.stderr.strip().endswith("no faces with usage Training")


def test_folder_layout_gives_the_same_answer_as_the_csv(public_slice, tmp_path):
    lines = public_slice.read_text().splitlines()[1:101]
    names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for i, line in enumerate(lines):
        label, pixels, _ = line.split(",")
        folder = tmp_path / "test" / names[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.array(pixels.split(), np.uint8).reshape(48, 48))
    (tmp_path / "slice100.csv").write_text("\n".join(public_slice.read_text().splitlines()[:101]) + "\n")
    from_csv = json.loads(
        run_dmsd("evaluate", "--task", "emotion", "--data", str(tmp_path / "slice100.csv"), "--json").stdout
    )
    from_folders = json.loads(
        run_dmsd("evaluate", "--task", "emotion", "--data", str(tmp_path), "--usage", "PublicTest", "--json").stdout
    )
    assert from_folders["n"] == 100 and from_folders["confusion"] == from_csv["confusion"]


def test_seatbelt_counts_faces_then_scores(tmp_path):
    rows = (PERSON_CROPS / "labels.csv").read_text().splitlines()
    (tmp_path / "crops").mkdir()
    picked = [r for r in rows[1:] if ",valid," in r][:12]
    for row in picked:
        shutil.copy(PERSON_CROPS / row.split(",")[0], tmp_path / "crops")
    shutil.copy(SAMPLES / "cabin_noface.jpg", tmp_path / "crops")
    labels = ["path,label"] + [f"crops/{r.split(',')[0].split('/')[-1]},{r.split(',')[1]}" for r in picked]
    labels.append("crops/cabin_noface.jpg,worn")
    (tmp_path / "labels.csv").write_text("\n".join(labels) + "\n")
    result = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(tmp_path / "labels.csv"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 13 and report["unreadable"] == 0
    assert report["with_face"] <= 12  # the empty cabin has no face: counted, not guessed
    assert report["n"] == report["with_face"] - report["no_chest_region"]
    assert set(report["per_class"]) == {"worn", "not_worn"}


def test_seatbelt_folder_layout(tmp_path):
    for label in ("worn", "not_worn"):
        (tmp_path / label).mkdir()
    shutil.copy(SAMPLES / "cabin_frame010.jpg", tmp_path / "worn")
    shutil.copy(SAMPLES / "cabin_frame110.jpg", tmp_path / "worn")
    result = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 2 and report["with_face"] == 2 and report["per_class"]["worn"]["support"] == 2


def test_seatbelt_unreadable_image_named_and_counted(tmp_path):
    for label in ("worn", "not_worn"):
        (tmp_path / label).mkdir()
    shutil.copy(SAMPLES / "cabin_frame010.jpg", tmp_path / "worn")
    whole = (SAMPLES / "cabin_frame110.jpg").read_bytes()
    (tmp_path / "not_worn" / "truncated.jpg").write_bytes(whole[: len(whole) // 50])
    result = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 2 and report["unreadable"] == 1 and report["with_face"] == 1
    (problem,) = result.stderr.strip().splitlines()
    assert problem.startswith("dmsd evaluate: ") and "truncated.jpg" in problem and "Traceback" not in result.stderr


def test_seatbelt_on_a_video_of_one_label(tmp_path):
    """Every frame of an unbelted driver's clip, tracked as the daemon tracks a camera; the truth comes from --label."""
    from dmsd.frames.sources import count_frames

    clip = SHARED / "driver_video" / "nir_incar" / "mouth" / "yawn_05.avi"
    frames = count_frames(clip)[0]
    result = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(clip), "--label", "not_worn", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == frames and report["label"] == "not_worn" and report["with_face"] >= frames - 5
    assert report["n"] == report["with_face"] - report["no_chest_region"]
    assert report["per_class"]["not_worn"]["support"] == report["n"] and report["per_class"]["worn"]["support"] == 0
    assert report["accuracy"] == report["per_class"]["not_worn"]["recall"]  # the share of frames seen as not worn
    text = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(clip), "--label", "not_worn").stdout
    assert f"frames {frames}, all not_worn; face found in {report['with_face']}" in text


def spans(tmp_path, *rows: str) -> Path:
    path = tmp_path / "spans.csv"
    path.write_text("path,frames,label,person\n" + "".join(f"{row}\n" for row in rows))
    return path


def test_seatbelt_on_a_video_whose_label_changes(tmp_path):
    """The bundled clip's true labels (belted 0-123, taking it off 124-140 left out, unbelted 141-149): every frame is
    tracked, the frames inside a span are scored, per clip and per person."""
    data = spans(tmp_path, f"{CLIP},0-123,worn,bundled", f"{CLIP},141-149,not_worn,bundled")
    report = json.loads(run_dmsd("evaluate", "--task", "seatbelt", "--data", str(data), "--json").stdout)
    assert report["labelled"] == 133 and report["images"] == 133  # 124 + 9 frames, the 17 between not scored
    assert report["per_class"]["not_worn"]["support"] + report["per_class"]["worn"]["support"] == report["judged"]
    assert report["per_class"]["not_worn"]["support"] <= 9 and report["per_class"]["worn"]["support"] <= 124
    assert report["unbelted_judged"] == report["per_class"]["not_worn"]["support"]
    assert report["unbelted_read_worn"] == report["confusion"][0][1]  # rows: truth not_worn, worn
    (clip,) = report["clips"]
    assert (
        clip["person"] == "bundled"
        and clip["labelled"] == 133
        and report["people"]["bundled"] == {k: v for k, v in clip.items() if k not in ("path", "person")}
    )
    text = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(data)).stdout
    assert "all clips: 133 frames labelled" in text and "person bundled: 133 frames labelled" in text


@pytest.mark.parametrize(
    "rows, message",
    [
        ((f"{CLIP},0-123,worn,b", f"{CLIP},120-149,not_worn,b"), "spans.csv:3: frames 120-149 overlap frames 0-123"),
        ((f"{CLIP},0-123,worn,b", f"{CLIP},all,worn,b"), "frames 0-end overlap frames 0-123"),
        ((f"{CLIP},141-160,not_worn,b",), "spans.csv:2: frames 141-160 run past the end of"),
        ((f"{CLIP},150-150,not_worn,b",), "which has 150 frames (0-149)"),
        ((f"{CLIP},9-3,worn,b",), "frames '9-3': write FIRST-LAST"),
        ((f"{CLIP},12,worn,b",), "frames '12': write FIRST-LAST"),
        ((f"{CLIP},all,belted,b",), "unknown label 'belted'"),
        (("missing.mp4,all,worn,b",), "no such video missing.mp4"),
    ],
)
def test_bad_span_file_one_line(tmp_path, rows, message):
    result = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(spans(tmp_path, *rows)))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_shipped_seatbelt_model_above_its_floors(tmp_path):
    """Regression guard: person_crops' valid split (both classes), the bundled clip's true labels and a held-out
    unbelted near-infrared driver, the shipped INT8 model."""
    import csv

    with open(PERSON_CROPS / "labels.csv", newline="", encoding="utf-8") as handle:
        valid = [row for row in csv.DictReader(handle) if row["split"] == "valid"]
    (tmp_path / "labels.csv").write_text(
        "path,label\n" + "".join(f"{PERSON_CROPS / row['path']},{row['label']}\n" for row in valid)
    )
    crops = json.loads(
        run_dmsd("evaluate", "--task", "seatbelt", "--data", str(tmp_path / "labels.csv"), "--json").stdout
    )
    assert crops["images"] == 125 and crops["n"] >= 80
    assert crops["face_share"] >= SEATBELT_FLOORS["crops_faces"]
    assert crops["accuracy"] >= SEATBELT_FLOORS["crops_accuracy"]
    assert crops["per_class"]["not_worn"]["recall"] >= SEATBELT_FLOORS["crops_not_worn_recall"]
    nir = SHARED / "driver_video" / "nir_incar"
    data = spans(
        tmp_path,
        f"{CLIP},0-123,worn,bundled",
        f"{CLIP},141-149,not_worn,bundled",
        *(f"{nir / clip},all,not_worn,nir_C" for clip in NIR_C_CLIPS),
    )
    clips = json.loads(run_dmsd("evaluate", "--task", "seatbelt", "--data", str(data), "--json").stdout)["people"]
    assert clips["bundled"]["judged"] >= 130 and clips["bundled"]["right_share"] >= SEATBELT_FLOORS["bundled"]
    assert clips["nir_C"]["judged"] >= 200 and clips["nir_C"]["right_share"] >= SEATBELT_FLOORS["nir_c"]


def test_bad_labels_csv_is_reported_by_line(tmp_path):
    shutil.copy(SAMPLES / "cabin_frame010.jpg", tmp_path / "a.jpg")
    (tmp_path / "labels.csv").write_text("path,label\na.jpg,worn\nb.jpg,worn\na.jpg,worn\na.jpg,belted\n")
    result = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(tmp_path / "labels.csv"))
    assert result.returncode == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "3 bad row(s)" in message and "labels.csv:3: no such file b.jpg" in message
    assert "labels.csv:4: duplicate of line 2" in message and "labels.csv:5: unknown label 'belted'" in message


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "emotion", "--data", "/nonexistent"], "no such dataset"),
        (["--task", "seatbelt", "--data", "/nonexistent/labels.csv"], "no such labels file"),
        (["--task", "seatbelt", "--data", str(SAMPLES), "--usage", "Training"], "--usage only applies"),
        (["--task", "emotion", "--data", str(FER), "--model", "/nonexistent.onnx"], "no such model file"),
        (["--task", "seatbelt", "--data", str(CLIP)], "a video needs --label worn or --label not_worn"),
        (["--task", "seatbelt", "--data", str(PERSON_CROPS / "labels.csv"), "--label", "worn"], "--label only applies"),
        (["--task", "seatbelt", "--data", str(ROOT / "README.md"), "--label", "worn"], "cannot open as a video file"),
    ],
)
def test_bad_arguments_one_line(args, message):
    result = run_dmsd("evaluate", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def agreement(task: str, models_dir: Path, inputs, exact_file: bool = False) -> float:
    """Share of `inputs` (image, grey, box) on which the FP32 and INT8 models in models_dir pick the same class: the
    INT8 file this CPU runs, or with `exact_file` the 7-bit `<task>.int8.onnx` itself."""
    from dmsd.vision.classifier import Classifier

    fp32 = Classifier(models_dir / f"{task}.fp32.onnx", task)
    int8 = Classifier(models_dir / f"{task}.int8.onnx", task, exact_file=exact_file)
    same = [np.argmax(fp32.run(fp32.preprocess(*x))[0]) == np.argmax(int8.run(int8.preprocess(*x))[0]) for x in inputs]
    return float(np.mean(same))


def phone_regions_of_real_clips() -> list:
    """(image, grey, the phone model's region) of every other frame of a near-infrared call, a phone-free clip of the
    same driver and incluit's attentive driver, tracked as the daemon tracks them."""
    import cv2

    from dmsd.config import Config
    from dmsd.vision.analyzer import Analyzer
    from dmsd.vision.classifier import Classifier
    from dmsd.vision.stages.phone import PhoneRegion

    model = Classifier(ROOT / "models" / "phone.int8.onnx", "phone")
    region = PhoneRegion.parse(model.meta.get("dmsd.region"), "phone")
    regions = []
    for clip in ("nir_incar/calling/Phoning_13.avi", "nir_incar/eye/eye_closed_11.avi", "incluit/video3.mp4"):
        analyzer = Analyzer.from_config(Config(), video=True)
        capture = cv2.VideoCapture(str(SHARED / "driver_video" / clip))
        index = 0
        while (read := capture.read())[0]:
            image = read[1]
            face = analyzer.analyze(image, clip, index / 10).face
            box = region.box(face, image.shape[1], image.shape[0])
            if box is not None and index % 2 == 0:
                regions.append((image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), box))
            index += 1
        capture.release()
    return regions


def chest_regions_of_valid_crops() -> list:
    """(image, grey, chest region) of every person_crops valid image where the daemon's pipeline finds one."""
    import csv

    from dmsd.config import Config
    from dmsd.frames.images import read_image
    from dmsd.vision.chest import chest_region
    from dmsd.vision.stages.face import FaceStage

    face_stage = FaceStage.from_config(Config(), video=False)
    chest = Config().chest
    with open(PERSON_CROPS / "labels.csv", newline="", encoding="utf-8") as handle:
        valid = [PERSON_CROPS / row["path"] for row in csv.DictReader(handle) if row["split"] == "valid"]
    regions = []
    for path in valid:
        image = read_image(path)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        face = face_stage.faces.find(grey)
        region = chest_region(face, grey.shape[1], grey.shape[0], chest) if face else None
        if region is not None:
            regions.append((image, grey, region))
    return regions


def test_shipped_int8_models_agree_with_fp32_on_this_cpu(public_slice):
    """INT8 kernels differ by CPU: with 8-bit weights, x86 CPUs without VNNI saturate (see convert/quantize.py), and
    on such a CPU the INT8 models drifted from FP32 (the same class for 78% of these faces and 80% of the chest
    regions). Whatever CPU runs the suite, the shipped INT8 models must agree with FP32 on real inputs: faces, chest
    regions, and the phone model's regions of real clips."""
    from dmsd.offline.datasets import load_fer2013
    from dmsd.vision.geometry import Box

    faces = [(g, g, Box(0, 0, 48, 48)) for g in load_fer2013(public_slice).images]
    # 95.2% on a VNNI EPYC (the model before: 95.5% on AVX2); the file this CPU runs (with full 8-bit weights on x86
    # with VNNI, dmsd.vision.int8_weights) and the 7-bit file every other CPU runs
    assert agreement("emotion", ROOT / "models", faces) >= 0.92
    assert agreement("emotion", ROOT / "models", faces, exact_file=True) >= 0.92
    regions = chest_regions_of_valid_crops()
    assert len(regions) >= 50
    assert agreement("seatbelt", ROOT / "models", regions) >= 0.94  # 98.3% (58 of 59)
    phone = phone_regions_of_real_clips()
    assert len(phone) >= 60
    assert agreement("phone", ROOT / "models", phone) >= 0.94  # 97.0% of the held-out drivers' frames at convert
