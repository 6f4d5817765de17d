"""Model sessions: the shipped models, the metadata contract, and bad model files."""

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from dmsd.errors import DmsdError
from dmsd.vision.classifier import Classifier
from dmsd.vision.geometry import Box
from harness import ROOT, SAMPLES, run_dmsd, write_config

MODELS = ROOT / "models"


@pytest.mark.parametrize("task", ["emotion", "seatbelt"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_shipped_models_carry_the_contract(task, precision):
    model = Classifier(MODELS / f"{task}.{precision}.onnx", task)
    assert model.precision == precision
    spec = model.input
    tensor = model.preprocess(np.zeros((200, 200, 3), np.uint8), np.zeros((200, 200), np.uint8), Box(10, 10, 100, 100))
    channels = 1 if spec.colour == "grey" else 3
    nchw = spec.layout == "NCHW"
    expected = (1, channels, spec.height, spec.width) if nchw else (1, spec.height, spec.width, channels)
    assert tensor.shape == expected
    probs = model.run(tensor)[0]
    assert probs.shape == (len(model.labels),) and abs(probs.sum() - 1) < 1e-4


def tiny_model(path, task="emotion", labels=None, input_spec=None, metadata=True, logits=False):
    """A real ONNX graph (flatten, matmul, optional softmax) of the shape a retrained model might have."""
    labels = labels or ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    spec = input_spec or {"size": [32, 24], "colour": "rgb", "layout": "NHWC", "scale": 1 / 127.5, "offset": -1.0}
    width, height = spec["size"]
    channels = 1 if spec["colour"] == "grey" else 3
    shape = [1, height, width, channels] if spec["layout"] == "NHWC" else [1, channels, height, width]
    features = width * height * channels
    rng = np.random.default_rng(0)
    weights = helper.make_tensor(
        "w", TensorProto.FLOAT, [features, len(labels)], rng.normal(size=features * len(labels)) * 0.01
    )
    nodes = [helper.make_node("Flatten", ["input"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])]
    nodes.append(helper.make_node("Identity" if logits else "Softmax", ["logits"], ["out"]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, len(labels)])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        for key, value in {
            "dmsd.task": task,
            "dmsd.labels": json.dumps(labels),
            "dmsd.input": json.dumps(spec),
            "dmsd.output": "logits" if logits else "probs",
        }.items():
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_a_retrained_model_with_other_input_drops_in(tmp_path):
    """Size, colour, layout and scaling come from the metadata: an RGB NHWC 32x24 model runs unchanged."""
    path = tiny_model(tmp_path / "custom.onnx", logits=True)
    model = Classifier(path, "emotion")
    bgr = np.full((100, 100, 3), (255, 0, 0), np.uint8)  # pure blue in BGR
    tensor = model.preprocess(bgr, np.zeros((100, 100), np.uint8), Box(0, 0, 100, 100))
    assert tensor.shape == (1, 24, 32, 3)
    assert np.allclose(tensor[0, 0, 0], [-1.0, -1.0, 1.0])  # RGB order, scaled to [-1, 1]
    probs = model.predict(bgr, np.zeros((100, 100), np.uint8), Box(0, 0, 100, 100))
    assert abs(sum(probs.values()) - 1) < 1e-5  # logits were turned into probabilities

    config = write_config(tmp_path / "c.yaml", f"models:\n  emotion:\n    path: {path}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["emotion"]["label"] in probs


def test_missing_model(tmp_path):
    with pytest.raises(DmsdError, match="no such model file"):
        Classifier(tmp_path / "nope.onnx", "emotion")


def test_not_onnx(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage, not a protobuf" * 10)
    with pytest.raises(DmsdError, match="not a loadable ONNX model"):
        Classifier(tmp_path / "bad.onnx", "emotion")


def test_model_without_metadata(tmp_path):
    path = tiny_model(tmp_path / "bare.onnx", metadata=False)
    with pytest.raises(DmsdError, match="lacks metadata dmsd.task, dmsd.labels, dmsd.input"):
        Classifier(path, "emotion")


def test_model_for_the_wrong_task(tmp_path):
    path = tiny_model(tmp_path / "belt.onnx", task="seatbelt", labels=["not_worn", "worn"])
    with pytest.raises(DmsdError, match="is a 'seatbelt' model, expected 'emotion'"):
        Classifier(path, "emotion")


def test_model_with_wrong_labels(tmp_path):
    path = tiny_model(tmp_path / "odd.onnx", labels=["a", "b", "c", "d", "e", "f", "g"])
    with pytest.raises(DmsdError, match="dmsd.labels"):
        Classifier(path, "emotion")


def test_model_whose_outputs_do_not_match_its_labels(tmp_path):
    """Six class scores under seven emotion labels: refused at load, never a mislabelled or crashing frame."""
    path = tiny_model(tmp_path / "six.onnx", labels=["a", "b", "c", "d", "e", "f"])
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "dmsd.labels":
            prop.value = json.dumps(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
    onnx.save(model, str(path))
    with pytest.raises(DmsdError, match="gives 6 class scores but dmsd.labels names 7"):
        Classifier(path, "emotion")


@pytest.mark.parametrize("kind", ["missing", "not_onnx", "no_metadata"])
def test_cli_names_the_bad_model_in_one_line(tmp_path, kind):
    path = tmp_path / "model.onnx"
    if kind == "not_onnx":
        path.write_text("hello")
    elif kind == "no_metadata":
        tiny_model(path, metadata=False)
    config = write_config(tmp_path / "c.yaml", f"models:\n  seatbelt:\n    path: {path}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"dmsd: {path}: ")


VNNI_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
AVX2_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"


def test_full_8_bit_weights_are_opened_only_where_the_cpu_runs_them_exactly(tmp_path):
    """x86 with VNNI sums u8 x s8 products in 32 bits; without it (AVX2's vpmaddubsw) full 8-bit weights saturate,
    and other CPUs were not measured: they keep the 7-bit file."""
    from dmsd.vision.int8_weights import for_this_cpu, full_weights_exact

    assert full_weights_exact(VNNI_CPU, "x86_64") and full_weights_exact(VNNI_CPU.replace("avx512_vnni", "avx_vnni"))
    assert not full_weights_exact(AVX2_CPU, "x86_64") and not full_weights_exact(VNNI_CPU, "aarch64")
    assert not full_weights_exact("", "x86_64")

    seven = tmp_path / "emotion.int8.onnx"
    shutil.copy(ROOT / "models" / "emotion.int8.onnx", seven)
    assert for_this_cpu(seven, exact=True) == seven  # nothing beside it
    full = tmp_path / "emotion.int8.w8.onnx"
    shutil.copy(ROOT / "models" / "emotion.int8.w8.onnx", full)
    assert for_this_cpu(seven, exact=True) == full and for_this_cpu(seven, exact=False) == seven
    mine = tmp_path / "mine.onnx"  # a file of the user's own is opened as named
    shutil.copy(seven, mine)
    assert for_this_cpu(mine, exact=True) == mine

    # The shipped pair: this CPU's pick is what the daemon's classifier opens; exact_file opens the file named.
    shipped = ROOT / "models" / "emotion.int8.onnx"
    expected = "emotion.int8.w8.onnx" if full_weights_exact() else "emotion.int8.onnx"
    assert Classifier(shipped, "emotion").path.name == expected
    assert Classifier(shipped, "emotion", exact_file=True).path == shipped
    bits = {
        path.name: {p.key: p.value for p in onnx.load(str(path)).metadata_props}["dmsd.calibration"]
        for path in (shipped, ROOT / "models" / "emotion.int8.w8.onnx")
    }
    assert bits["emotion.int8.onnx"].endswith("7-bit weights") and bits["emotion.int8.w8.onnx"].endswith(
        "8-bit weights"
    )
