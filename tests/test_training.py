"""The training tooling on real FER2013 rows: the loader, and a tiny train -> ONNX -> INT8 -> dmsd round trip."""

import gzip
import json
import shutil

import numpy as np
import pytest

from dmsd.errors import DmsdError
from harness import ROOT, SAMPLES, SHARED, run_dmsd, write_config
from train.emotion import ARCHITECTURES

FER = SHARED / "fer2013" / "fer2013.csv.gz"
FERPLUS = SHARED / "fer2013" / "fer2013new.csv"


@pytest.fixture(scope="module")
def public_faces():
    """The first 64 PublicTest faces as the models take them (the CSV is read once for the module)."""
    from train import fer2013
    from train.emotion import to_input

    return to_input(fer2013.load(FER, "PublicTest").images[:64])


@pytest.fixture(scope="module")
def fer_rows():
    with gzip.open(FER, "rt") as handle:
        return [next(handle) for _ in range(41)]  # header + 40 real rows


def test_loader_reads_csv_and_gz(tmp_path, fer_rows):
    from train import fer2013

    (tmp_path / "slice.csv").write_text("".join(fer_rows))
    faces = fer2013.load(tmp_path / "slice.csv", "Training")
    assert faces.images.shape == (40, 48, 48) and faces.images.dtype == np.uint8
    assert list(faces.lines[:2]) == [2, 3]
    assert set(faces.labels) <= set(range(7))


def test_malformed_rows_are_reported_by_line_and_skipped(tmp_path, fer_rows, caplog):
    from train import fer2013

    rows = list(fer_rows)
    rows[3] = "9," + rows[3].split(",", 1)[1]  # unknown emotion, line 4
    rows[5] = rows[5].replace(" ", " x ", 1)  # non-numeric pixel, line 6
    rows[7] = "3,1 2 3,Training\n"  # wrong pixel count, line 8
    rows[9] = rows[9].rsplit(",", 1)[0] + ",Somewhere\n"  # unknown usage, line 10
    (tmp_path / "bad.csv").write_text("".join(rows))
    faces = fer2013.load(tmp_path / "bad.csv", max_bad_share=0.5)
    assert len(faces) == 36
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in faces.problems] == ["4", "6", "8", "10"]
    assert "unknown emotion 9" in faces.problems[0] and "3 pixels, expected 2304" in faces.problems[2]
    assert "bad.csv:4" in caplog.text
    with pytest.raises(DmsdError, match="4 of 40 rows are malformed"):
        fer2013.load(tmp_path / "bad.csv")  # over the default 1% policy: a wrong file, not a damaged row


def test_folder_layout_and_unreadable_images(tmp_path, fer_rows):
    import cv2

    from train import fer2013

    for i, row in enumerate(fer_rows[1:11]):
        label, pixels, _ = row.split(",")
        folder = tmp_path / "train" / fer2013.EMOTION_LABELS[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), np.array(pixels.split(), np.uint8).reshape(48, 48))
    (tmp_path / "train" / "happy").mkdir(exist_ok=True)
    (tmp_path / "train" / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    faces = fer2013.load(tmp_path, "Training")
    assert len(faces) == 10 and faces.images.shape == (10, 48, 48)
    assert len(faces.problems) == 1 and "broken.jpg" in faces.problems[0]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "none.csv", "no such dataset"),
        (lambda p: (p / "x.csv").write_text("a,b\n1,2\n") and p / "x.csv", "not a FER2013 CSV"),
    ],
)
def test_bad_dataset_paths(tmp_path, make, message):
    from train import fer2013

    with pytest.raises(DmsdError, match=message):
        fer2013.load(make(tmp_path))


def test_empty_split_is_an_error(tmp_path, fer_rows):
    from train import fer2013

    (tmp_path / "train_only.csv").write_text("".join(fer_rows))
    with pytest.raises(DmsdError, match="no faces with usage PublicTest"):
        fer2013.load(tmp_path / "train_only.csv", "PublicTest")


@pytest.mark.training
def test_train_export_quantize_and_run_in_dmsd(tmp_path, public_faces):
    """One epoch on a few hundred real faces, then the real convert tooling, then the daemon's own loader."""
    from convert.__main__ import convert
    from train.__main__ import main as train_main

    run = tmp_path / "run"
    assert (
        train_main(
            [
                "emotion",
                "--data",
                str(FER),
                "--out",
                str(run),
                "--epochs",
                "1",
                "--limit",
                "300",
                "--width",
                "4",
                "--batch",
                "64",
                "--ferplus",
                str(FERPLUS),
                "--ferplus-soft",
                "0.5",
            ]
        )
        == 0
    )
    assert {
        "best.keras",
        "history.csv",
        "metrics.json",
        "curves.png",
        "confusion.png",
        "config.json",
        "export.json",
        "samples.npz",
    } <= {p.name for p in run.iterdir()}
    report = convert(run, tmp_path / "models", calib_size=64, method="minmax", quant_format="qdq", per_channel=True)
    assert report["fp32"]["max_abs_diff_vs_keras"] < 1e-4
    assert report["int8"]["top1_agreement_vs_keras"] > 0.5

    from dmsd.vision.classifier import Classifier

    for precision in ("fp32", "int8"):
        model = Classifier(tmp_path / "models" / f"emotion.{precision}.onnx", "emotion")
        assert model.precision == precision and model.input.width == 48 and model.input.colour == "grey"
    # The model card section is written from these measured numbers, not typed.
    from convert.card import emotion_section
    from dmsd.offline.timing import time_pair

    timing = time_pair(tmp_path / "models", "emotion", runs=50)
    section = emotion_section(run, timing, [])
    fp32, int8 = 100 * report["fp32"]["accuracy"], 100 * report["int8"]["accuracy"]
    assert f"| accuracy | {fp32:.2f}% | {int8:.2f}% |" in section
    assert f"{timing['int8']['p50_ms']:.3f} ms" in section and "random_erasing" in section

    # That run, as a teacher: its probabilities are averaged with its mirror image's, so they are mirror-blind.
    from train.emotion import teacher_probabilities

    taught = teacher_probabilities([str(run)], public_faces)
    assert np.allclose(taught.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(taught, teacher_probabilities([str(run)], public_faces[:, :, ::-1]), atol=1e-5)
    # ... and converted: the FP32 file teaches as the run it was made from; a file that cannot teach is one line
    converted = str(tmp_path / "models" / "emotion.fp32.onnx")
    assert np.allclose(teacher_probabilities([converted], public_faces), taught, atol=1e-4)
    for bad, message in [
        (tmp_path / "models" / "emotion.int8.onnx", "needs an FP32 emotion model whose dmsd.input is the student's"),
        (ROOT / "models" / "seatbelt.fp32.onnx", "is a 'seatbelt' model, expected 'emotion'"),
        (tmp_path / "none.onnx", "none.onnx: no such model file"),
    ]:
        with pytest.raises(DmsdError, match="^--teacher .*" + message.replace("(", r"\(").replace("'", ".")):
            teacher_probabilities([str(bad)], public_faces[:2])
    student = tmp_path / "student"
    assert (
        train_main(
            [
                "emotion",
                "--data",
                str(FER),
                "--out",
                str(student),
                "--epochs",
                "1",
                "--limit",
                "200",
                "--width",
                "4",
                "--teacher",
                str(run),
                "--teacher-weight",
                "0.7",
                "--optimizer",
                "sgd",
                "--lr",
                "0.01",
            ]
        )
        == 0
    )
    assert json.loads((student / "config.json").read_text())["teacher"] == [str(run)]
    shutil.copy(run / "conversion.json", student)  # the section's conversion rows; the training line is the student's
    section = emotion_section(student, timing, [])
    assert "0.7 x the mean probabilities of teacher `" in section and "SGD with Nesterov momentum" in section

    model = tmp_path / "models" / "emotion.int8.onnx"
    config = write_config(tmp_path / "c.yaml", f"models:\n  emotion:\n    path: {model}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["emotion"]["label"]


@pytest.mark.training
def test_a_run_goes_on_from_the_shipped_model_and_ships_averaged_with_it_mirrored(tmp_path, public_faces, capsys):
    """--init-from the shipped FP32 model starts as that model (a second schedule, not a new network); with mixup on,
    it converts into one graph with the shipped model, each reading the face and its mirror image."""
    import onnx
    import onnxruntime as ort

    from convert.__main__ import main as convert_main
    from convert.ensemble import first_network
    from train.__main__ import main as train_main

    shipped = ROOT / "models" / "emotion.fp32.onnx"
    run = tmp_path / "run"
    argv = ["emotion", "--data", str(FER), "--out", str(run), "--arch", "plain_lean", "--width", "16"]
    argv += ["--epochs", "1", "--limit", "192", "--lr", "1e-7", "--mixup", "0.2", "--init-from", str(shipped)]
    assert train_main(argv) == 0
    import keras

    ours = keras.models.load_model(run / "best.keras", compile=False).predict(public_faces, verbose=0)
    network = first_network(shipped, tmp_path / "network.onnx")  # the shipped file averages four views of it
    session = ort.InferenceSession(str(network), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: public_faces.transpose(0, 3, 1, 2)})[0]
    assert (ours.argmax(1) == theirs.argmax(1)).mean() >= 0.95
    assert json.loads((run / "config.json").read_text())["mixup"] == 0.2

    capsys.readouterr()
    out = tmp_path / "models"
    assert convert_main([str(run), str(network), "--out", str(out), "--calib-size", "64", "--mirror"]) == 0
    report = json.loads(capsys.readouterr().out)["ensemble"]
    assert report["members"] == 2 and report["mirror"] and report["int8_top1_agreement_vs_fp32"] >= 0.9
    meta = {p.key: p.value for p in onnx.load(str(out / "emotion.int8.onnx")).metadata_props}
    assert (
        meta["dmsd.members"] == "2"
        and json.loads(meta["dmsd.views"])[1] == "input, mirrored"
        and meta["dmsd.precision"] == "int8"
    )
    config = write_config(tmp_path / "c.yaml", f"models:\n  emotion:\n    path: {out / 'emotion.int8.onnx'}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["emotion"]["label"]
    assert convert_main([str(shipped), "--out", str(out), "--mirror"]) == 2
    assert "needs a training run folder" in capsys.readouterr().err


class Interrupted(Exception):
    pass


@pytest.mark.training
def test_an_interrupted_run_resumes_where_it_stopped_and_keeps_its_best_checkpoint(tmp_path, monkeypatch):
    import csv

    import keras

    from train import record
    from train.__main__ import main as train_main

    real_callbacks = record.callbacks

    class StopAfterSecondEpoch(keras.callbacks.Callback):  # a power cut after two epochs were saved
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Interrupted

    monkeypatch.setattr(record, "callbacks", lambda out, **kw: real_callbacks(out, **kw) + [StopAfterSecondEpoch()])
    run = tmp_path / "run"
    argv = ["emotion", "--data", str(FER), "--out", str(run), "--epochs", "3", "--limit", "200", "--width", "4"]
    with pytest.raises(Interrupted):
        train_main(argv)
    assert (run / "backup").is_dir() and (run / "best.keras").is_file()
    monkeypatch.setattr(record, "callbacks", real_callbacks)
    assert train_main(argv) == 0
    with open(run / "history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))
    assert [row["epoch"] for row in history] == ["0", "1", "2"]  # the third epoch only, not three more

    # The resumed checkpoint starts from the best epoch already run, so a worse epoch cannot replace best.keras.
    best = max(float(row["val_accuracy"]) for row in history)
    checkpoint = next(c for c in record.callbacks(run) if isinstance(c, keras.callbacks.ModelCheckpoint))
    checkpoint.set_model(keras.models.load_model(run / "best.keras"))
    before = (run / "best.keras").stat().st_mtime_ns
    checkpoint.on_epoch_end(3, {"val_accuracy": best - 0.01})
    assert (run / "best.keras").stat().st_mtime_ns == before
    checkpoint.on_epoch_end(4, {"val_accuracy": best + 0.01})
    assert (run / "best.keras").stat().st_mtime_ns != before


@pytest.mark.training
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_exports_to_nchw_onnx_without_a_transpose(tmp_path, public_faces, arch):
    """The INT8 speed-up depends on the graph staying channels-first end to end (see the model card)."""
    import onnx
    import onnxruntime as ort

    from convert.export import keras_to_onnx, nhwc_to_nchw

    model = ARCHITECTURES[arch](8)
    keras_to_onnx(model, tmp_path / "m.onnx")
    assert "Transpose" not in {node.op_type for node in onnx.load(tmp_path / "m.onnx").graph.node}
    faces = public_faces[:32]
    session = ort.InferenceSession(tmp_path / "m.onnx", providers=["CPUExecutionProvider"])
    (onnx_probs,) = session.run(None, {session.get_inputs()[0].name: nhwc_to_nchw(faces)})
    np.testing.assert_allclose(onnx_probs, model.predict(faces, verbose=0), atol=1e-5)


def test_ferplus_soft_targets_blend_the_label_with_the_annotators_votes():
    from train import fer2013

    faces = fer2013.load(FER, "Training").subset(np.arange(200))
    votes = fer2013.ferplus_votes(FERPLUS, faces)
    hard = fer2013.soft_targets(faces.labels, None, 0.0)
    assert (hard.argmax(1) == faces.labels).all() and (hard.max(1) == 1).all()
    soft = fer2013.soft_targets(faces.labels, votes, 0.5)
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-5)
    voted = votes.sum(1) > 0
    shares = votes[voted] / votes[voted].sum(1, keepdims=True)
    np.testing.assert_allclose(soft[voted], 0.5 * hard[voted] + 0.5 * shares, rtol=1e-5)
    np.testing.assert_array_equal(soft[~voted], hard[~voted])  # not-a-face rows: nothing to blend with
    # Real faces where FER+'s annotators disagree with FER2013's label exist, and keep half their label.
    disagree = voted & (votes.argmax(1) != faces.labels)
    assert disagree.sum() > 10
    assert np.allclose(soft[disagree, faces.labels[disagree]] >= 0.5, True)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ferplus-soft", "0.5"], "--ferplus-soft needs --ferplus"),
        (["--ferplus", str(FERPLUS), "--ferplus-soft", "1.5"], "between 0 and 1"),
        (["--teacher", "runs/none", "--teacher-weight", "1.5"], "--teacher-weight must be between 0 and 1"),
        (["--teacher", "no/such/run"], "--teacher no/such/run: no such run folder"),
        (["--teacher", "no/such/run", "--ferplus", str(FERPLUS), "--ferplus-soft", "0.5"], "choose one"),
        (["--mixup", "-1"], "--mixup must be 0 (off) or a positive Beta alpha"),
        (["--init-from", "no/such.onnx"], "--init-from no/such.onnx: no such model file"),
        (
            ["--init-from", str(ROOT / "models" / "emotion.int8.onnx"), "--arch", "plain_lean", "--width", "16"],
            "a quantized model; use the FP32 file",
        ),
        (["--init-from", str(ROOT / "models" / "emotion.fp32.onnx"), "--width", "8"], "do not match this network"),
    ],
)
def test_bad_training_options(tmp_path, capsys, argv, message):
    from train.__main__ import main as train_main

    assert train_main(["emotion", "--data", str(FER), "--out", str(tmp_path / "r"), "--limit", "10", *argv]) == 2
    assert message in capsys.readouterr().err


def test_too_small_calibration_set_is_refused(tmp_path):
    from convert.quantize import quantize

    with pytest.raises(DmsdError, match="calibration set has 5 inputs; at least 32"):
        quantize(tmp_path / "a.onnx", tmp_path / "b.onnx", np.zeros((5, 1, 48, 48), np.float32))


@pytest.mark.training
def test_requantize_remakes_a_shipped_int8_model_that_agrees_with_fp32(tmp_path, capsys):
    """The shipped emotion FP32 file, quantized again with its run's calibration draw, and checked on PublicTest."""
    import onnx

    from convert.requantize import main as requantize
    from harness import ROOT

    shutil.copy(ROOT / "models" / "emotion.fp32.onnx", tmp_path)
    assert (
        requantize(["--task", "emotion", "--models", str(tmp_path), "--data", str(FER), "--ferplus", str(FERPLUS)]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["held_out_inputs"] == 3589 and report["calibration_inputs"] == 500
    assert report["top1_agreement"] >= 0.94 and report["int8_accuracy"] >= report["fp32_accuracy"] - 0.02
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "emotion.int8.onnx")).metadata_props}
    assert meta["dmsd.precision"] == "int8" and "7-bit weights" in meta["dmsd.calibration"]
    assert json.loads(meta["dmsd.views"]) == ["input", "centre 1/1.1", "input, mirrored", "centre 1/1.1, mirrored"]
    assert meta["dmsd.labels"] == json.dumps(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
    config = write_config(
        tmp_path / "config.yaml",
        f"models:\n  dir: {tmp_path}\n"
        f"  seatbelt: {{path: {ROOT / 'models' / 'seatbelt.int8.onnx'}}}\n"
        f"  eyes: {{path: {ROOT / 'models' / 'eyes.int8.onnx'}}}\n"
        f"landmarks: {{path: {ROOT / 'models' / 'landmarks.fp32.onnx'}}}\n"
        "blendshapes: {enabled: false}\n"
        f"detector: {{blazeface: {{path: {ROOT / 'models' / 'blazeface.fp32.onnx'}}}}}\n",
    )
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 0 and json.loads(result.stdout)["emotion"] is not None, result.stderr

    # Full 8-bit weights: made and checked only where the CPU multiplies them exactly (x86 with VNNI)
    from dmsd.vision.int8_weights import full_weights_exact

    argv = ["--task", "emotion", "--models", str(tmp_path), "--data", str(FER), "--ferplus", str(FERPLUS)]
    capsys.readouterr()
    if full_weights_exact():
        assert requantize([*argv, "--full-weights"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["file"] == str(tmp_path / "emotion.int8.w8.onnx") and report["top1_agreement"] >= 0.97
        meta = {p.key: p.value for p in onnx.load(report["file"]).metadata_props}
        assert "8-bit weights" in meta["dmsd.calibration"] and json.loads(meta["dmsd.views"])[3].endswith("mirrored")
    else:
        assert requantize([*argv, "--full-weights"]) == 2
        assert "this CPU saturates full 8-bit weights" in capsys.readouterr().err
        assert not (tmp_path / "emotion.int8.w8.onnx").exists()


def test_requantize_without_an_fp32_model_is_one_line(tmp_path, capsys):
    from convert.requantize import main as requantize

    assert requantize(["--task", "seatbelt", "--models", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"python -m convert.requantize: {tmp_path / 'seatbelt.fp32.onnx'}: no such FP32 model to quantize"


@pytest.mark.training
def test_a_soup_averages_runs_of_one_network_and_measures_its_batch_norms_again(tmp_path, capsys):
    """Two runs from one start, averaged: every learnt weight is the mean of theirs, each batch norm holds the
    statistics of what it now sees on the runs' training inputs, and convert reads the soup as any run; what cannot
    be averaged is one line each."""
    import keras
    from keras import layers

    from convert.__main__ import convert
    from train.__main__ import main as train_main

    base, other = tmp_path / "base", tmp_path / "other"
    common = ["--data", str(FER), "--arch", "plain_lean", "--width", "4", "--epochs", "1", "--limit", "256"]
    assert train_main(["emotion", "--out", str(base), *common]) == 0
    start = str(base / "best.keras")
    assert train_main(["emotion", "--out", str(other), *common, "--init-from", start, "--seed", "2"]) == 0
    soup = tmp_path / "soup"
    assert train_main(["soup", str(base), str(other), "--out", str(soup)]) == 0

    networks = [keras.models.load_model(run / "best.keras", compile=False) for run in (base, other, soup)]
    norms = [[layer for layer in net.layers if isinstance(layer, layers.BatchNormalization)] for net in networks]
    learnt = [[w.numpy() for w in net.trainable_weights] for net in networks]
    assert not np.allclose(learnt[0][0], learnt[1][0])  # the second run moved away from the first
    for a, b, mean in zip(*learnt, strict=True):
        assert np.allclose(mean, (a + b) / 2, atol=1e-6)
    samples = [np.load(run / "samples.npz") for run in (base, other)]
    calib = np.concatenate([s["calib"] for s in samples])
    for norm in norms[2]:
        seen = keras.Model(networks[2].inputs, norm.input).predict(calib, verbose=0)
        assert np.allclose(norm.moving_mean.numpy(), seen.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5)
        assert np.allclose(norm.moving_variance.numpy(), seen.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)
    # the averaged statistics would not be these (the mean network's layers see other inputs)
    assert not np.allclose(
        norms[2][-1].moving_variance.numpy(), (norms[0][-1].moving_variance + norms[1][-1].moving_variance).numpy() / 2
    )

    metrics = json.loads((soup / "metrics.json").read_text())
    assert set(metrics["ingredients_accuracy"]) == {str(base), str(other)} and 0 < metrics["accuracy"] <= 1
    assert json.loads((soup / "config.json").read_text())["runs"] == [str(base), str(other)]
    assert np.array_equal(np.load(soup / "samples.npz")["verify_labels"], samples[0]["verify_labels"])
    report = convert(soup, tmp_path / "models", calib_size=64, method="minmax", quant_format="qdq", per_channel=True)
    assert report["fp32"]["max_abs_diff_vs_keras"] < 1e-4 and report["fp32"]["accuracy"] == pytest.approx(
        metrics["accuracy"], abs=1e-3
    )

    wider = tmp_path / "wider"  # another network under the same contract
    wider.mkdir()
    for name in ("export.json", "samples.npz"):
        shutil.copy(base / name, wider / name)
    ARCHITECTURES["plain_lean"](8).save(wider / "best.keras")
    (tmp_path / "seatbelt").mkdir()
    shutil.copy(base / "best.keras", tmp_path / "seatbelt")
    shutil.copy(base / "samples.npz", tmp_path / "seatbelt")
    (tmp_path / "seatbelt" / "export.json").write_text(json.dumps({"task": "seatbelt", "labels": [], "input": {}}))
    capsys.readouterr()
    for runs, message in [
        ([base], "a soup needs two or more runs, got 1"),
        ([base, tmp_path / "none"], "none: no best.keras, export.json, samples.npz; is it a finished training run?"),
        ([base, wider], "wider: not the same network as"),
        ([base, tmp_path / "seatbelt"], "seatbelt: its export.json (task, labels, input) differs from"),
    ]:
        assert train_main(["soup", *map(str, runs), "--out", str(tmp_path / "refused")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "refused").exists()
