"""The seatbelt dataset builder on real images of every source, and a tiny train -> ONNX -> INT8 -> evaluate trip."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dmsd.config import ChestConfig, DetectorConfig
from dmsd.labels import SEATBELT_LABELS
from harness import CLIP, ROOT, SAMPLES, SHARED, run_dmsd

SEATBELT = SHARED / "seatbelt"


@pytest.fixture(scope="module")
def a_few_per_source():
    from train import seatbelt_data

    picked = []
    for name, loader in seatbelt_data.SOURCES.items():
        samples = loader(SEATBELT / name)
        picked += samples[:: len(samples) // 12][:12]
    return picked


def test_builder_uses_the_daemons_face_and_chest_geometry(a_few_per_source):
    from train import seatbelt_data

    data = seatbelt_data.build(a_few_per_source, DetectorConfig(), ChestConfig(), 64)
    report = data["report"]
    assert set(report) == {"person_crops", "windshield_crops", "incabin_belt_boxes"}
    for row in report.values():
        assert row["images"] == 12 and row["unreadable"] == 0
        assert row["region"] <= row["face"] <= row["images"]
    assert data["x"].shape == (sum(r["region"] for r in report.values()), 64, 64)
    assert set(np.unique(data["y"][data["source"] == "incabin_belt_boxes"])) <= {1}  # positives only
    assert 0 < report["incabin_belt_boxes"]["belt_area_in_region_median"] <= 1


def test_profile_fallback_only_adds_faces(a_few_per_source):
    from train import seatbelt_data

    geometry = ChestConfig()
    frontal = seatbelt_data.build(a_few_per_source, DetectorConfig(), geometry, 64)["report"]
    both = seatbelt_data.build(a_few_per_source, DetectorConfig(), geometry, 64, profile_fallback=True)["report"]
    for source in frontal:
        assert both[source]["face"] == frontal[source]["face"] + both[source]["profile_face"]
        assert both[source]["face"] >= frontal[source]["face"]


def test_person_box_fallback_only_for_training_crops_without_a_face():
    from train import seatbelt_data

    crops = seatbelt_data.person_crops(SEATBELT / "person_crops")
    train, valid = [s for s in crops if s.split == "train"][:15], [s for s in crops if s.split == "valid"][:15]
    geometry = ChestConfig()
    train_faces = seatbelt_data.build(train, DetectorConfig(), geometry, 64)["report"]["person_crops"]["face"]
    frontal = seatbelt_data.build(train + valid, DetectorConfig(), geometry, 64)
    boxed = seatbelt_data.build(train + valid, DetectorConfig(), geometry, 64, person_box_fallback=True)
    row, fallback = frontal["report"]["person_crops"], boxed["report"]["person_crops"]
    assert 0 < fallback["person_box"] == len(train) - train_faces  # every training crop without a face
    assert fallback["face"] == row["face"] and fallback["region"] == row["region"]
    assert len(boxed["y"]) == len(frontal["y"]) + fallback["person_box"]
    assert (boxed["split"] == "valid").sum() == (frontal["split"] == "valid").sum()  # validation stays the daemon's


@pytest.mark.training
def test_init_from_copies_the_emotion_trunk(tmp_path):
    import keras

    from dmsd.errors import DmsdError
    from train import emotion, seatbelt, warm_start

    keras.utils.set_random_seed(1)
    faces = emotion.plain_net(4, lean=True)
    faces.save(tmp_path / "faces.keras")
    belt = seatbelt.build_model(4)
    assert warm_start.init_from(belt, str(tmp_path / "faces.keras")) == 14  # 7 convolutions, 7 batch norms
    conv = lambda m: [layer for layer in m.layers if isinstance(layer, keras.layers.Conv2D)]  # noqa: E731
    for a, b in zip(conv(faces), conv(belt), strict=True):
        np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    with pytest.raises(DmsdError, match="do not match"):
        warm_start.init_from(seatbelt.build_model(8), str(tmp_path / "faces.keras"))
    with pytest.raises(DmsdError, match="no such model file"):
        warm_start.init_from(belt, str(tmp_path / "missing.keras"))
    # Two stages frozen: stage one's convolution and stage two's two, each with its batch norm.
    assert seatbelt.freeze_stages(belt, 2) == 6
    assert [layer.trainable for layer in conv(belt)] == [False] * 3 + [True] * 4
    kept = [w.copy() for w in conv(belt)[0].get_weights()]
    belt.compile(optimizer="adam", loss="categorical_crossentropy")
    belt.fit(np.random.rand(8, 64, 64, 1), keras.utils.to_categorical(np.arange(8) % 2, 2), verbose=0)
    np.testing.assert_array_equal(conv(belt)[0].get_weights()[0], kept[0])
    assert not np.array_equal(conv(belt)[3].get_weights()[0], conv(faces)[3].get_weights()[0])


@pytest.mark.training
def test_init_from_the_shipped_onnx_emotion_model_is_the_same_function(tmp_path):
    """No emotion run at hand: the shipped FP32 ONNX model's folded convolutions give the same features."""
    import keras
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from convert.ensemble import first_network
    from dmsd.errors import DmsdError
    from train import seatbelt, warm_start

    shipped = ROOT / "models" / "emotion.fp32.onnx"
    belt = seatbelt.build_model(16, 48)
    assert warm_start.init_from(belt, str(shipped)) == 14
    trunk = keras.Model(belt.inputs, belt.get_layer(index=-3).output)  # the pooled features
    shipped = first_network(shipped, tmp_path / "network.onnx")  # the shipped model averages views: the network
    graph = onnx.load(str(shipped)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    dense = next(n for n in graph.node if n.op_type == "MatMul").input[1]
    bias = next(n for n in graph.node if n.op_type == "Add").input[1]
    faces = np.random.default_rng(0).random((4, 48, 48, 1)).astype(np.float32)
    logits = trunk.predict(faces, verbose=0) @ weights[dense] + weights[bias]
    ours = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    session = ort.InferenceSession(str(shipped))
    theirs = session.run(None, {session.get_inputs()[0].name: faces.transpose(0, 3, 1, 2)})[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # With their statistics restored on real inputs, the batch norms keep that function, in training mode too
    # (normalised by the batch), where identity batch norms would rescale every layer on the first step.
    before = trunk.predict(faces, verbose=0)
    warm_start.restore_batch_norms(belt, faces)
    np.testing.assert_allclose(trunk.predict(faces, verbose=0), before, atol=1e-5)
    np.testing.assert_allclose(trunk(faces, training=True).numpy(), before, rtol=1e-3, atol=1e-4)
    with pytest.raises(DmsdError, match="a quantized model"):
        warm_start.init_from(belt, str(ROOT / "models" / "emotion.int8.onnx"))


@pytest.mark.training
def test_init_from_the_shipped_seatbelt_model_fine_tunes_it():
    """A seatbelt model gives its classifier too: the network starts as the shipped model, the same verdicts."""
    import onnxruntime as ort

    from train import seatbelt, warm_start

    shipped = ROOT / "models" / "seatbelt.fp32.onnx"
    session = ort.InferenceSession(str(shipped))
    size = session.get_inputs()[0].shape[-1]
    belt = seatbelt.build_model(16, size)
    assert warm_start.init_from(belt, str(shipped)) == 15  # 14 trunk layers and the classifier
    regions = np.random.default_rng(1).random((6, size, size, 1)).astype(np.float32)
    theirs = session.run(None, {session.get_inputs()[0].name: regions.transpose(0, 3, 1, 2)})[0]
    np.testing.assert_allclose(belt.predict(regions, verbose=0), theirs, atol=1e-5)


def test_near_duplicates_share_a_split():
    from train import seatbelt_data

    assert seatbelt_data.group_of("04-08-30_jpg.rf.1a23690fe2c4d44cac8873132a5c58e4_crop.jpg") == "04-08-30_jpg"
    samples = seatbelt_data.windshield_crops(SEATBELT / "windshield_crops")
    splits: dict[str, set] = {}
    for s in samples:
        splits.setdefault(s.group, set()).add(s.split)
    assert all(len(v) == 1 for v in splits.values())
    assert 0.1 < sum(s.split == "valid" for s in samples) / len(samples) < 0.3


@pytest.mark.training
def test_train_export_quantize_and_evaluate(tmp_path):
    from convert.__main__ import convert
    from train.__main__ import main as train_main

    run = tmp_path / "run"
    assert (
        train_main(
            [
                "seatbelt",
                "--data",
                str(SEATBELT),
                "--out",
                str(run),
                "--sources",
                "person_crops,incabin_belt_boxes",
                "--clips",
                "",
                "--limit",
                "80",
                "--epochs",
                "2",
                "--width",
                "4",
                "--person-box-fallback",
                "--size",
                "48",
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_source"]) <= {"person_crops", "incabin_belt_boxes"} and "balanced_accuracy" in metrics
    report = convert(run, tmp_path / "models", calib_size=32, method="minmax", quant_format="qdq", per_channel=True)
    assert report["fp32"]["max_abs_diff_vs_keras"] < 1e-4
    model = tmp_path / "models" / "seatbelt.int8.onnx"
    from dmsd.vision.classifier import Classifier  # the runtime learns the input side from the model, not from code

    assert (Classifier(model, "seatbelt").input.width, Classifier(model, "seatbelt").input.height) == (48, 48)
    result = run_dmsd(
        "evaluate",
        "--task",
        "seatbelt",
        "--data",
        str(SEATBELT / "person_crops" / "labels.csv"),
        "--model",
        str(model),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(result.stdout)
    assert evaluated["images"] == 516 and evaluated["n"] > 100 and evaluated["model"] == str(model)
    # The card's target rows come from the same pipeline, per precision, on person_crops valid and the clip.
    from convert.card import seatbelt_section, seatbelt_targets
    from dmsd.offline.timing import time_pair

    spans = tmp_path / "spans.csv"  # the bundled clip's true labels, and one clip of the held-out unbelted driver
    spans.write_text(
        "path,frames,label,person\ndriver_video/incabin_belted_driver.mp4,0-123,worn,bundled\n"
        "driver_video/incabin_belted_driver.mp4,141-149,not_worn,bundled\n"
        "driver_video/nir_incar/mouth/yawn_05.avi,all,not_worn,nir_C\n"
    )
    targets = seatbelt_targets(tmp_path / "models", SHARED, spans)
    crops, clips = targets["int8"]["crops"], targets["int8"]["clips"]
    assert crops["images"] == 125 and 0 < crops["n"] <= crops["with_face"]
    bundled = clips["people"]["bundled"]
    assert bundled["labelled"] == 133 and bundled["judged"] >= 125 and clips["people"]["nir_C"]["judged"] > 40
    section = seatbelt_section(run, time_pair(tmp_path / "models", "seatbelt", runs=50), targets)
    assert f"| {100 * bundled['right_share']:.2f}% |" in section and "person-box" in section and "48x48 grey" in section
    assert "`nir_C` (unbelted, held out): frames right" in section


def test_own_images_group_frames_of_one_recording(tmp_path):
    from train import seatbelt_data

    assert (
        seatbelt_data.recording_of(Path("cab3/clip07_0001.jpg"))
        == seatbelt_data.recording_of(Path("cab3/clip07_0145.jpg"))
        == "cab3/clip07"
    )
    recording_of = seatbelt_data.recording_of
    assert recording_of(Path("cab3/clip08-12.png")) != recording_of(Path("cab4/clip08-12.png"))
    for label in ("worn", "not_worn"):
        (tmp_path / label).mkdir()
    for i in range(20):
        shutil.copy(SAMPLES / "cabin_frame010.jpg", tmp_path / "worn" / f"drive{i % 4}_{i:04d}.jpg")
    samples = seatbelt_data.own_images(tmp_path)
    assert {s.source for s in samples} == {"own"} and len({s.group for s in samples}) == 4
    by_group: dict[str, set] = {}
    for s in samples:
        by_group.setdefault(s.group, set()).add(s.split)
    assert all(len(splits) == 1 for splits in by_group.values())


@pytest.mark.training
def test_train_on_your_own_images_only(tmp_path):
    """The fleet engineer's path: their own labels.csv, none of the shipped sources."""
    from train.__main__ import main as train_main

    crops = [line.split(",") for line in (SEATBELT / "person_crops" / "labels.csv").read_text().splitlines()[1:]]
    not_worn = [row[0] for row in crops if row[1] == "not_worn"][:8]
    rows = [
        f"{SAMPLES / name},worn,{split}"
        for name, split in [
            ("cabin_frame010.jpg", "train"),
            ("cabin_frame060.jpg", "train"),
            ("cabin_frame110.jpg", "valid"),
        ]
    ]
    rows += [
        f"{SEATBELT / 'person_crops' / path},not_worn,{'valid' if i % 4 == 0 else 'train'}"
        for i, path in enumerate(not_worn)
    ]
    (tmp_path / "labels.csv").write_text("path,label,split\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert (
        train_main(
            [
                "seatbelt",
                "--sources",
                "",
                "--clips",
                "",
                "--own",
                str(tmp_path / "labels.csv"),
                "--out",
                str(run),
                "--epochs",
                "2",
                "--width",
                "4",
                "--select",
                "last",
            ]
        )
        == 0
    )
    dataset = json.loads((run / "dataset.json").read_text())
    assert set(dataset) == {"own"} and dataset["own"]["images"] == 11
    assert "own" in json.loads((run / "metrics.json").read_text())["per_source"]


def test_nothing_to_train_on(tmp_path, capsys):
    from train.__main__ import main as train_main

    assert train_main(["seatbelt", "--sources", "", "--clips", "", "--out", str(tmp_path / "r")]) == 2
    assert "nothing to train on" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--size", "8"], "--size 8: allowed 16 to 256"),
        (["--freeze-stages", "2"], "needs --init-from"),
        (["--freeze-stages", "5", "--init-from", "x.keras"], "--freeze-stages 5: allowed 0 to 4"),
        (
            ["--synthesize", "10", "--synth-kinds", "belt_drawn,band_painted_out"],
            "--synth-kinds belt_drawn,band_painted_out: every synthesized region would be worn",
        ),
        (["--synthesize", "10", "--synth-kinds", "belt_drawn,glitter"], "--synth-kinds: glitter not allowed"),
        (["--synthesize", "-1"], "--synthesize -1: allowed 0"),
        (["--config", "no-such-config.yaml"], "no-such-config.yaml: cannot read"),
    ],
)
def test_bad_model_arguments(tmp_path, capsys, argv, message):
    from train.__main__ import main as train_main

    assert train_main(["seatbelt", *argv, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.training
def test_select_last_keeps_the_final_weights(tmp_path):
    import keras

    from train import record

    keras.utils.set_random_seed(1)
    x, y = np.random.rand(64, 4).astype(np.float32), keras.utils.to_categorical(np.arange(64) % 2, 2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=record.callbacks(tmp_path, None))
    kept = keras.models.load_model(tmp_path / "best.keras")
    for a, b in zip(kept.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_synthesize_refuses_sources_without_belt_boxes(tmp_path, capsys):
    from train.__main__ import main as train_main

    argv = [
        "seatbelt",
        "--sources",
        "person_crops",
        "--clips",
        "",
        "--limit",
        "20",
        "--epochs",
        "1",
        "--synthesize",
        "5",
        "--out",
        str(tmp_path / "r"),
    ]
    assert train_main(argv) == 2
    assert "--synthesize: no training region with a marked belt; include incabin_belt_boxes" in capsys.readouterr().err


@pytest.fixture(scope="module")
def belted_regions():
    """Real incabin_belt_boxes chest regions (64x64) with their marked belts, as the trainer cuts them."""
    from train import seatbelt_data

    samples = [s for s in seatbelt_data.incabin_belt_boxes(SEATBELT / "incabin_belt_boxes") if s.split == "train"]
    data = seatbelt_data.build(samples[:60], DetectorConfig(), ChestConfig(), 64)
    from dmsd.vision.geometry import Box

    found: dict[int, list] = {}
    for index, box in zip(data["belt_index"], data["belt_box"], strict=True):
        found.setdefault(int(index), []).append(Box(*(int(v) for v in box)))
    return [(data["x"][i], boxes) for i, boxes in found.items()]


def test_a_removed_belt_changes_its_box_and_nothing_far_from_it(belted_regions):
    from train import seatbelt_synth

    assert len(belted_regions) >= 5
    rng = np.random.default_rng(0)
    for grey, belts in belted_regions[:5]:
        edited = seatbelt_synth.remove_belt(grey, belts, rng)
        changed = np.abs(edited.astype(int) - grey.astype(int)) > 2
        near = np.zeros_like(changed)
        for b in belts:  # the box, grown by the band's reach past its corners
            grow = max(4, round(0.25 * max(b.w, b.h)))
            near[max(0, b.y - grow) : b.y + b.h + grow, max(0, b.x - grow) : b.x + b.w + grow] = True
        assert changed.any() and not (changed & ~near).any()
        inside = np.zeros_like(changed)
        for b in belts:
            inside[b.y : b.y + b.h, b.x : b.x + b.w] = True
        assert changed[inside].mean() > 0.15  # a band through the box, not a speck


def changed_pixels(edited: np.ndarray, original: np.ndarray) -> np.ndarray:
    """(row, col) of the pixels an edit moved by more than 10 grey levels."""
    return np.argwhere(np.abs(edited.astype(int) - original.astype(int)) > 10)


def long_axis_degrees(points: np.ndarray) -> float:
    """The long axis of a cloud of (row, col) points, in degrees from level (-90..90: an axis, not an arrow)."""
    ys, xs = points[:, 0] - points[:, 0].mean(), points[:, 1] - points[:, 1].mean()
    direction = np.linalg.eigh(np.cov(np.stack([xs, ys])))[1][:, -1]
    return (np.degrees(np.arctan2(direction[1], direction[0])) + 90) % 180 - 90


@pytest.mark.parametrize("angle", [45, -45])
def test_a_drawn_belt_lies_on_the_diagonal(belted_regions, angle):
    from train import seatbelt_synth

    grey = belted_regions[0][0]
    rng = np.random.default_rng(1)
    drawn = seatbelt_synth.draw_band(grey, angle, rng, infrared=False)
    changed = changed_pixels(drawn, grey)
    assert len(changed) > 0.1 * grey.size
    measured = long_axis_degrees(changed)
    assert abs(measured - angle) < 12, measured


@pytest.mark.parametrize("angle", [45, -45, 90])
def test_a_pasted_belt_is_the_real_belt_laid_on_the_asked_line(belted_regions, angle):
    from train import seatbelt_synth

    target = belted_regions[1][0]
    source, belts = next((g, b) for g, b in belted_regions if max(b[0].w, b[0].h) >= 20)
    rng = np.random.default_rng(3)
    pasted = seatbelt_synth.paste_belt(target, source, belts[0], angle, rng)
    assert pasted.shape == target.shape and pasted.dtype == np.uint8
    changed = changed_pixels(pasted, target)
    assert 0.05 * target.size < len(changed) < 0.5 * target.size  # a band, not the whole region
    measured = long_axis_degrees(changed)
    assert min(abs(measured - angle), 180 - abs(measured - angle)) < 15, measured
    # The band carries the source's texture, not a flat fill: its pixels vary as a belt's do.
    assert pasted[tuple(changed.T)].std() > 3


def test_synthesis_is_seeded_and_draws_the_first_four_kinds_first(belted_regions):
    """The pasted kinds draw after the first four, so a recipe measured before they existed makes the same regions."""
    from train import seatbelt_synth

    regions = np.stack([g for g, _ in belted_regions])
    labels = np.array([i % 2 for i in range(len(regions))])
    images, _, kinds = seatbelt_synth.synthesize(regions, labels, belted_regions, 4, np.random.default_rng(5))
    again, _, kinds_again = seatbelt_synth.synthesize(regions, labels, belted_regions, 4, np.random.default_rng(5))
    assert (images == again).all() and (kinds == kinds_again).all()  # seeded: the same regions every run
    assert list(kinds[:16]) == ["belt_removed", "band_painted_out", "belt_drawn", "strap_drawn"] * 4


def test_synthesis_makes_both_classes_from_every_kind_of_edit(belted_regions):
    from train import seatbelt_synth

    regions = np.stack([g for g, _ in belted_regions])
    labels = np.array([i % 2 for i in range(len(regions))])  # some regions stand in for unbelted ones
    images, classes, kinds = seatbelt_synth.synthesize(regions, labels, belted_regions, 6, np.random.default_rng(2))
    assert images.shape == (36, 64, 64) and images.dtype == np.uint8
    expected = {
        "belt_removed": 0,
        "band_painted_out": 1,
        "belt_drawn": 1,
        "strap_drawn": 0,
        "belt_pasted": 1,
        "strap_pasted": 0,
    }
    assert {k: set(classes[kinds == k]) for k in expected} == {k: {v} for k, v in expected.items()}
    assert (classes == 0).sum() == (classes == 1).sum()  # each class gets an inpainting, a drawing and a paste
    # The contact sheet has a row for each real class and each kind made, no empty rows for kinds left out.
    pasted = np.isin(kinds, ["belt_pasted", "strap_pasted"])
    sheet = seatbelt_synth.contact_sheet(regions, labels, images[pasted], kinds[pasted])
    assert sheet.shape[0] == 4 * (64 + 4)
    assert (sheet[2 * 68 : 4 * 68, 150:] != 255).any() and (sheet[:, :150] != 255).any()  # regions, and row names


def test_balance_sources_splits_each_class_among_its_sources():
    from train import seatbelt

    labels = np.array([0] * 10 + [1] * 30 + [1] * 60)
    sources = np.array(["person_crops"] * 40 + ["incabin_belt_boxes"] * 60)
    by_class = seatbelt.sample_weights(labels, sources, "classes")
    by_source = seatbelt.sample_weights(labels, sources, "sources")
    for weights in (by_class, by_source):
        assert weights.mean() == pytest.approx(1.0)
        assert weights[labels == 0].sum() == pytest.approx(weights[labels == 1].sum())  # the classes weigh alike
    assert by_class[10] == by_class[99]  # one weight per class
    # The belted class's half is split between its two sources, however many regions each has.
    assert by_source[10:40].sum() == pytest.approx(by_source[40:].sum())


def test_a_pasted_belt_keeps_its_own_steepness():
    from dmsd.vision.geometry import Box
    from train import seatbelt_synth

    rng = np.random.default_rng(0)
    angles = [seatbelt_synth.belt_angle(Box(0, 0, 10, 30), rng) for _ in range(50)]  # a steep belt: 71.6 degrees
    assert 66.5 <= min(angles) and max(angles) <= 76.7
    assert seatbelt_synth.belt_angle(Box(0, 0, 40, 5), rng) >= 25  # never laid level as a belt


def test_regions_are_cut_with_the_given_configuration(tmp_path):
    """--config: the trainer cuts regions with a camera's own detector settings, as its daemon would."""
    import argparse

    from train import seatbelt

    parser = argparse.ArgumentParser()
    seatbelt.add_arguments(parser)
    frontal = tmp_path / "frontal.yaml"
    frontal.write_text("detector:\n  still_aspects: []\n  still_profile: false\n")
    found = {}
    for name, extra in (("defaults", []), ("frontal", ["--config", str(frontal)])):
        args = parser.parse_args(["--sources", "person_crops", "--clips", "", "--limit", "40", *extra])
        (tmp_path / name).mkdir()
        found[name] = seatbelt.load_regions(args, tmp_path / name)["report"]["person_crops"]["face"]
    assert found["frontal"] < found["defaults"]  # the squeezed copies and the profile cascade find more


def test_clips_are_cut_as_the_daemon_tracks_them_and_split_by_person(tmp_path):
    """A span file as a source: the labelled frames of each video, about 5 a second, tracked as a camera's, each
    region with its span's label; the frames of a held-out person are validation, never training."""
    import argparse

    from train import seatbelt

    nir = SHARED / "driver_video" / "nir_incar" / "mouth" / "yawn_05.avi"  # nir_C, unbelted, 10 fps
    (tmp_path / "spans.csv").write_text(
        "path,frames,label,person\n"
        f"{CLIP},0-20,worn,bundled\n{CLIP},141-149,not_worn,bundled\n{nir},all,not_worn,nir_C\n"
    )
    parser = argparse.ArgumentParser()
    seatbelt.add_arguments(parser)
    args = parser.parse_args(["--sources", "", "--clips", str(tmp_path / "spans.csv"), "--test-people", "nir_C"])
    data = seatbelt.load_regions(args, tmp_path)
    report = data["report"]
    assert set(report) == {"clip:bundled", "clip:nir_C"}
    assert report["clip:bundled"]["images"] == 30  # 21 + 9 labelled frames: the bundled clip runs at 7 fps, all kept
    assert report["clip:nir_C"]["images"] == pytest.approx(25, abs=3)  # every 2nd frame of about 5 s at 10 fps
    bundled, nir_c = data["source"] == "clip:bundled", data["source"] == "clip:nir_C"
    assert set(data["split"][bundled]) == {"train"} and set(data["split"][nir_c]) == {"valid"}
    assert (data["y"][nir_c] == SEATBELT_LABELS.index("not_worn")).all()
    worn = (data["y"][bundled] == SEATBELT_LABELS.index("worn")).sum()
    assert 18 <= worn <= 21 and 7 <= bundled.sum() - worn <= 9  # the face and its region found on (nearly) all
    assert data["x"].shape[1:] == (64, 64) and len(data["x"]) == sum(r["region"] for r in report.values())
