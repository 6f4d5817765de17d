"""convert/ensemble.py on the shipped models: several members, and a face's mirror image, read in one graph."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from convert.ensemble import average, first_network
from dmsd.errors import DmsdError
from harness import ROOT, SAMPLES, SHARED, run_dmsd, write_config

FER = SHARED / "fer2013" / "fer2013.csv.gz"
EMOTION = {precision: ROOT / "models" / f"emotion.{precision}.onnx" for precision in ("fp32", "int8")}


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    """The shipped emotion network alone, one view (the shipped files average four views of it)."""
    folder = tmp_path_factory.mktemp("networks")
    return {precision: first_network(EMOTION[precision], folder / f"{precision}.onnx") for precision in EMOTION}


def probabilities(path, faces):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: faces})[0]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_mirrored_model_averages_the_face_and_its_mirror_image_in_one_call(tmp_path, networks, precision):
    faces = np.random.default_rng(0).random((5, 1, 48, 48)).astype(np.float32)
    mirrored = tmp_path / "mirrored.onnx"
    average([networks[precision]], mirrored, mirror=True)
    views = [probabilities(networks[precision], faces), probabilities(networks[precision], faces[..., ::-1].copy())]
    assert not np.allclose(views[0], views[1], atol=1e-3)  # the network does read a mirror image differently
    got = probabilities(mirrored, faces)
    np.testing.assert_allclose(got, np.mean(views, axis=0), atol=1e-6)
    np.testing.assert_allclose(probabilities(mirrored, faces[:1]), got[:1], atol=1e-6)  # batch of one, as the daemon
    meta = {p.key: p.value for p in onnx.load(str(mirrored)).metadata_props}
    assert (
        json.loads(meta["dmsd.views"]) == ["input", "input, mirrored"]
        and meta["dmsd.members"] == "1"
        and meta["dmsd.precision"] == precision
    )


def test_two_members_and_their_mirror_images_are_one_model_the_daemon_runs(tmp_path, networks):
    twin = tmp_path / "twin.onnx"  # a second member: the shipped model with its classifier's bias moved
    model = onnx.load(str(networks["fp32"]))
    bias = next(i for i in model.graph.initializer if len(i.dims) == 1 and i.dims[0] == 7)
    moved = onnx.numpy_helper.to_array(bias) + np.arange(7, dtype=np.float32) / 7
    bias.CopyFrom(onnx.numpy_helper.from_array(moved, bias.name))
    onnx.save(model, str(twin))
    both = tmp_path / "emotion.fp32.onnx"
    average([networks["fp32"], twin], both, mirror=True)
    faces = np.random.default_rng(1).random((3, 1, 48, 48)).astype(np.float32)
    views = [probabilities(m, f) for m in (networks["fp32"], twin) for f in (faces, faces[..., ::-1].copy())]
    assert not np.allclose(views[0], views[2], atol=1e-3)
    np.testing.assert_allclose(probabilities(both, faces), np.mean(views, axis=0), atol=1e-6)
    config = write_config(tmp_path / "c.yaml", f"models:\n  emotion:\n    path: {both}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 0, result.stderr
    emotion = json.loads(result.stdout)["emotion"]
    assert emotion["label"] and abs(sum(emotion["probs"].values()) - 1) < 0.01


def test_members_of_different_tasks_are_refused(tmp_path, networks):
    with pytest.raises(DmsdError, match=r"dmsd.task.* differ from .*; an ensemble shares them"):
        average([networks["fp32"], ROOT / "models" / "seatbelt.fp32.onnx"], tmp_path / "mixed.onnx", mirror=True)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_zoomed_view_is_the_centre_crop_scaled_back_up_as_opencv_scales_it(tmp_path, networks, precision):
    """--zoom 1.1: the centre 44 x 44 of a 48 x 48 face, resized bilinearly in the graph, read beside the face and
    both mirror images; the same as the views made outside the graph with OpenCV (convert's own check)."""
    from convert.__main__ import views
    from train import fer2013
    from train.emotion import to_input

    faces = to_input(fer2013.load(FER, "PublicTest").images[:16]).transpose(0, 3, 1, 2).copy()
    model = tmp_path / "zoomed.onnx"
    average([networks[precision]], model, mirror=True, zoom=1.1)
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert json.loads(meta["dmsd.views"]) == ["input", "centre 1/1.1", "input, mirrored", "centre 1/1.1, mirrored"]
    made = views(faces, mirror=True, zoom=1.1)
    assert len(made) == 4 and made[1].shape == faces.shape
    np.testing.assert_allclose(made[1][:, :, 2:46, 2:46].mean(), faces[:, :, 4:44, 4:44].mean(), atol=0.02)
    want = np.mean([probabilities(networks[precision], view) for view in made], axis=0)
    np.testing.assert_allclose(probabilities(model, faces), want, atol=1e-2 if precision == "int8" else 1e-4)
    with pytest.raises(DmsdError, match="zoom 0.9: allowed above 1"):
        average([networks[precision]], model, zoom=0.9)


def test_the_shipped_model_reads_four_views_of_one_network():
    """models/emotion.*.onnx: the network trained in issue 33, reading the face, a closer crop and their mirror
    images (python -m convert RUN --mirror --zoom 1.1), so a face and its mirror image get the same reading."""
    faces = np.random.default_rng(2).random((4, 1, 48, 48)).astype(np.float32)
    for precision, path in EMOTION.items():
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert meta["dmsd.members"] == "1" and len(json.loads(meta["dmsd.views"])) == 4
        mirrored = probabilities(path, faces[..., ::-1].copy())  # INT8: the resize's last float bits move a level
        np.testing.assert_allclose(probabilities(path, faces), mirrored, atol=1e-2 if precision == "int8" else 1e-4)
