"""python -m convert.landmarks: MediaPipe's face landmark model, from PyPI's mediapipe wheel to models/, verified.

    python -m convert.landmarks [--wheel PATH] [--out models] [--int8-study]
    python -m convert.landmarks --v2 [--task PATH] [--out models]

pip downloads the mediapipe 0.10.14 wheel for CPython 3.11 on x86-64 Linux (never installed: its pins fight the
training stack); the model is read out of it (a wheel is a zip) and checked against a pinned SHA-256. tf2onnx
converts it (opset 17, NCHW input, so no Transpose is left), each PRelu is rewritten into Max, Min or Add of a Mul
(`rewrite_prelu`: the same numbers, faster in ONNX Runtime), its outputs are named `landmarks` and `presence`, and
the dmsd metadata is written. The ONNX model is then run beside TensorFlow's own TFLite interpreter on real face
crops (every 5th frame of the bundled clip where the runtime's still-image search finds a face, cropped by the
runtime's own code), and refused if a landmark moves by more than 0.01 px. Writes OUT/landmarks.fp32.onnx and
prints the check as JSON. `--int8-study` also quantizes it four ways and times them beside FP32, interleaved.

`--v2`: MediaPipe's v2 face mesh instead (478 points: v1's 468, in v1's order, then five per iris; 256x256 input),
read out of the Face Landmarker bundle (`face_landmarker.task`, a zip; default ../shared/models/mediapipe/ beside
this repository), its `face_landmarks_detector.tflite` checked against a pinned SHA-256. What it takes comes from the
model's own TFLite metadata (RGB, mean 0 and std 255: pixels / 255) and MediaPipe's Face Landmarker graphs (the face
rect scaled 1.5x, square: `crop_margin` 0.25, as v1). Of its three outputs, the landmarks and the presence logit
(MediaPipe applies a sigmoid to it) are kept; the tongue-out score, which nothing in dmsd reads, is dropped with the
nodes only it needs. Converted, named and checked on the same face crops as v1; writes OUT/landmarks_v2.fp32.onnx.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.archive import read_member
from convert.frame import run_conversion
from dmsd.errors import DmsdError

log = logging.getLogger("convert.landmarks")
ROOT = Path(__file__).resolve().parent.parent
WHEEL = "mediapipe==0.10.14"
MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
CROP_MARGIN = 0.25  # the face box grown by a quarter of its size on every side: a good crop from a Haar box
LAYOUT = {"points": 468, "landmarks": "landmarks", "presence": "presence", "crop_margin": CROP_MARGIN}
INPUT = {"size": [192, 192], "colour": "rgb", "layout": "NCHW", "scale": 1 / 255.0, "offset": 0.0}
MAX_DIFF_PX = 0.01
# v2: the Face Landmarker bundle and the mesh inside it.
TASK = ROOT.parent / "shared" / "models" / "mediapipe" / "face_landmarker.task"
V2_MEMBER = "face_landmarks_detector.tflite"
V2_SHA256 = "c7d54204ce0448474c7f3fa9af494787c0965cbdd6f20fc72867e43046bd43d5"
V2_LAYOUT = {"points": 478, "landmarks": "landmarks", "presence": "presence", "crop_margin": CROP_MARGIN}
V2_INPUT = {"size": [256, 256], "colour": "rgb", "layout": "NCHW", "scale": 1 / 255.0, "offset": 0.0}


@dataclass(frozen=True)
class Mesh:
    """One face mesh to convert: where it comes from, what its TFLite graph calls things, what it takes."""

    file: str  # written to OUT/
    source: str  # provenance, for dmsd.source
    sha256: str  # of the .tflite
    input_name: str
    outputs: tuple[str, str] | None  # TFLite output names of the landmarks and the presence logit; None: by size
    layout: dict
    input: dict


V1 = Mesh("landmarks.fp32.onnx", f"{WHEEL} wheel, {MEMBER}", SHA256, "input_1", None, LAYOUT, INPUT)
V2 = Mesh(
    "landmarks_v2.fp32.onnx",
    f"MediaPipe Face Landmarker bundle face_landmarker.task, {V2_MEMBER}",
    V2_SHA256,
    "input_12",
    ("Identity", "Identity_1"),  # the third, Identity_2, is the tongue-out score (the model's own metadata)
    V2_LAYOUT,
    V2_INPUT,
)


def fetch_tflite(work: Path, wheel: Path | None = None) -> Path:
    """face_landmark.tflite out of the mediapipe wheel (downloaded with pip unless given), its SHA-256 checked."""
    return read_member(wheel or download_wheel(work), MEMBER, SHA256, work / "face_landmark.tflite")


def download_wheel(work: Path) -> Path:
    """The pinned mediapipe wheel (WHEEL, CPython 3.11, x86-64 Linux), downloaded by pip into `work`."""
    download = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            str(work),
            WHEEL,
            "--python-version",
            "3.11",
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_17_x86_64",
        ],
        capture_output=True,
        text=True,
    )
    wheels = sorted(work.glob("mediapipe-*.whl"))
    if download.returncode or not wheels:
        said = (download.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise DmsdError(f"pip download {WHEEL} failed: {said}")
    return wheels[0]


def fetch_task_tflite(work: Path, task: Path | None = None) -> Path:
    """face_landmarks_detector.tflite (the v2 mesh) out of MediaPipe's Face Landmarker bundle, its SHA-256 checked."""
    return read_member(TASK if task is None else task, V2_MEMBER, V2_SHA256, work / V2_MEMBER)


def keep_only(graph, outputs: set[str]) -> None:
    """Drop the graph's other outputs, then every node and initializer that no kept output needs."""
    kept_outputs = [o for o in graph.output if o.name in outputs]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    needed, nodes = set(outputs), []
    for node in reversed(graph.node):
        if needed & set(node.output):
            nodes.append(node)
            needed |= {name for name in node.input if name}
    kept_nodes = list(reversed(nodes))
    del graph.node[:]
    graph.node.extend(kept_nodes)
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def rewrite_prelu(graph) -> int:
    """Each PRelu(x, slope) replaced by the same function in plain element-wise operators; returns how many.

    ONNX Runtime's CPU PRelu kernel is slow: profiled on one core, PRelu took half of the v2 mesh's time, and it
    runs outside the NCHWc blocked layout, so each one sits between a reorder out of it and one back. Max, Min, Mul
    and Add run on vectorized kernels: both meshes ran 1.4x faster (models/README.md, "Landmarks"); the reorders
    stay, since ORT runs these outside NCHWc too. The same function, per slope (its channels' values):
    every slope <= 1: Max(x, x * slope); every slope >= 1: Min(x, x * slope); mixed: x + Min(x, 0) * (slope - 1).
    Initializers no node reads any more are dropped."""
    from onnx import helper, numpy_helper

    initializers = {i.name: i for i in graph.initializer}
    zero = "prelu_zero"
    nodes, rewritten, need_zero = [], 0, False
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in initializers:
            nodes.append(node)
            continue
        x, slope_name, (y,) = node.input[0], node.input[1], node.output
        slope = numpy_helper.to_array(initializers[slope_name])
        base = node.name or f"prelu_{rewritten}"
        if (slope <= 1).all() or (slope >= 1).all():
            nodes.append(helper.make_node("Mul", [x, slope_name], [f"{base}_scaled"], name=f"{base}_mul"))
            pick = "Max" if (slope <= 1).all() else "Min"
            nodes.append(helper.make_node(pick, [x, f"{base}_scaled"], [y], name=f"{base}_{pick.lower()}"))
        else:
            less_one = f"{slope_name}_minus_one"
            graph.initializer.append(numpy_helper.from_array((slope - 1).astype(slope.dtype), less_one))
            nodes.append(helper.make_node("Min", [x, zero], [f"{base}_negative"], name=f"{base}_min"))
            nodes.append(helper.make_node("Mul", [f"{base}_negative", less_one], [f"{base}_extra"], name=f"{base}_mul"))
            nodes.append(helper.make_node("Add", [x, f"{base}_extra"], [y], name=f"{base}_add"))
            need_zero = True
        rewritten += 1
    if need_zero:
        graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
    del graph.node[:]
    graph.node.extend(nodes)
    read = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return rewritten


def tflite_to_onnx(tflite: Path, out: Path, mesh: Mesh = V1) -> None:
    """tf2onnx with NCHW input; outputs renamed for what they hold (others dropped); each PRelu rewritten
    (`rewrite_prelu`); the dmsd metadata written."""
    import onnx
    import tf2onnx

    with contextlib.redirect_stdout(sys.stderr):
        proto, _ = tf2onnx.convert.from_tflite(str(tflite), opset=17, inputs_as_nchw=[mesh.input_name])
    if mesh.outputs is None:
        by_size = sorted(proto.graph.output, key=lambda o: -o.type.tensor_type.shape.dim[-1].dim_value)
        renames = {by_size[0].name: "landmarks", by_size[1].name: "presence"}
    else:
        renames = dict(zip(mesh.outputs, ("landmarks", "presence"), strict=True))
        have = {o.name for o in proto.graph.output}
        if not set(renames) <= have:
            raise DmsdError(f"{tflite}: outputs {sorted(have)}, not the {list(renames)} this converter expects")
        keep_only(proto.graph, set(renames))
    for node in proto.graph.node:
        node.output[:] = [renames.get(name, name) for name in node.output]
    for output in proto.graph.output:
        output.name = renames.get(output.name, output.name)
    log.info("%d PRelu rewritten", rewrite_prelu(proto.graph))
    props = {
        "dmsd.task": "landmarks",
        "dmsd.input": json.dumps(mesh.input),
        "dmsd.landmarks": json.dumps(mesh.layout),
        "dmsd.precision": "fp32",
        "dmsd.source": f"{mesh.source}, sha256 {mesh.sha256}",
        "dmsd.licence": "Apache-2.0 (MediaPipe)",
    }
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))


def face_crops(model_path: Path, every: int = 5) -> np.ndarray:
    """Inputs (NCHW) the runtime would give the model: the bundled clip's faces, found and cropped by its own code."""
    import cv2

    from dmsd.config import DetectorConfig, SourceConfig
    from dmsd.frames.sources import EndOfSource, VideoFileSource
    from dmsd.vision.detectors.haar import HaarFaceDetector
    from dmsd.vision.face_finder import SearchEveryFrame
    from dmsd.vision.landmarks import LandmarkModel

    clip = str(ROOT / "samples" / "incabin_belted_driver.mp4")
    model, faces = LandmarkModel(model_path), SearchEveryFrame(HaarFaceDetector(DetectorConfig()))
    source = VideoFileSource(clip, SourceConfig(uri=clip))
    source.open()
    inputs = []
    try:
        while True:
            frame = source.read(1.0)
            if frame.index % every:
                continue
            grey = frame.image if frame.image.ndim == 2 else cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
            face = faces.find(grey)
            if face is not None:
                inputs.append(model.preprocess(frame.image, face)[0][0])
    except EndOfSource:
        pass
    finally:
        source.close()
    return np.stack(inputs)


def compare_with_tflite(
    onnx_path: Path, tflite: Path, inputs: np.ndarray, outputs: tuple[str, str] | None = None
) -> dict:
    """Mean and max landmark difference (x, y, in crop pixels) and the largest presence-logit difference.
    outputs: the TFLite output names of the landmarks and the presence logit (None: the largest two, by size)."""
    import tensorflow as tf

    from dmsd.vision.landmarks import LandmarkModel

    interpreter = tf.lite.Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    given, given_out = interpreter.get_input_details()[0], interpreter.get_output_details()
    model = LandmarkModel(onnx_path)
    point_diffs, presence_diffs = [], []
    for tensor in inputs:
        interpreter.set_tensor(given["index"], tensor.transpose(1, 2, 0)[None])
        interpreter.invoke()
        if outputs is None:
            reference = sorted((interpreter.get_tensor(o["index"]) for o in given_out), key=lambda a: -a.size)
        else:
            by_name = {o["name"]: interpreter.get_tensor(o["index"]) for o in given_out}
            reference = [by_name[name] for name in outputs]
        points, logit = model.run(tensor[None])
        point_diffs.append(np.linalg.norm(points[:, :2] - reference[0].reshape(-1, 3)[:, :2], axis=1))
        presence_diffs.append(abs(logit - float(reference[1].ravel()[0])))
    diffs = np.concatenate(point_diffs)
    return {
        "crops": len(inputs),
        "mean_px": float(diffs.mean()),
        "max_px": float(diffs.max()),
        "presence_logit_max_diff": float(max(presence_diffs)),
    }


def int8_study(fp32: Path, inputs: np.ndarray, work: Path, runs: int = 1000, input_name: str = "input_1") -> dict:
    """Static INT8 four ways (calibrated on `inputs`), each against FP32: landmark shift and latency, interleaved."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    from convert.quantize import ArrayReader
    from dmsd.offline.timing import time_interleaved

    prepared = work / "prepared.onnx"
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=False)
    variants = {
        "QDQ, every operator": {"quant_format": QuantFormat.QDQ},
        "QDQ, Conv only (PRelu, Add in float)": {"quant_format": QuantFormat.QDQ, "op_types_to_quantize": ["Conv"]},
        "QOperator, Conv only": {"quant_format": QuantFormat.QOperator, "op_types_to_quantize": ["Conv"]},
        "QDQ, Conv, Add and MaxPool": {
            "quant_format": QuantFormat.QDQ,
            "op_types_to_quantize": ["Conv", "Add", "MaxPool"],
        },
    }
    paths = {"FP32": fp32}
    for i, (name, settings) in enumerate(variants.items()):
        paths[name] = work / f"int8_{i}.onnx"
        with contextlib.redirect_stdout(sys.stderr):
            quantize_static(
                str(prepared),
                str(paths[name]),
                ArrayReader(input_name, inputs),
                per_channel=True,
                reduce_range=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                calibrate_method=CalibrationMethod.MinMax,
                **settings,
            )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {n: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for n, p in paths.items()}
    points = {
        n: np.array([s.run(["landmarks"], {input_name: x[None]})[0].reshape(-1, 3) for x in inputs])
        for n, s in sessions.items()
    }
    timed = time_interleaved(
        {n: functools.partial(s.run, None, {input_name: inputs[:1]}) for n, s in sessions.items()},
        runs=runs,
        block=50,
        warmup=30,
    )
    study = {}
    for name in paths:
        shift = np.linalg.norm((points[name] - points["FP32"])[:, :, :2], axis=2)
        study[name] = {
            "p50_ms": timed[name]["p50_ms"],
            "vs_fp32_mean_px": round(float(shift.mean()), 3),
            "vs_fp32_max_px": round(float(shift.max()), 3),
        }
    return study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convert.landmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} wheel (default: pip downloads it)")
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--int8-study", action="store_true", help="also measure INT8 variants beside FP32")
    parser.add_argument(
        "--v2", action="store_true", help="MediaPipe's v2 face mesh (478 points with irises), from its bundle"
    )
    parser.add_argument("--task", type=Path, help=f"with --v2: the face_landmarker.task bundle (default: {TASK})")
    args = parser.parse_args(argv)
    if args.task and not args.v2:
        parser.error("--task goes with --v2")
    if args.wheel and args.v2:
        parser.error("--wheel is v1's source; --v2 reads --task")
    mesh = V2 if args.v2 else V1

    def convert(work: Path) -> tuple[Path, dict]:
        tflite = fetch_task_tflite(work, args.task) if args.v2 else fetch_tflite(work, args.wheel)
        candidate = work / mesh.file
        tflite_to_onnx(tflite, candidate, mesh)
        inputs = face_crops(candidate)
        report: dict = {
            "source": f"{args.task or TASK}: {V2_MEMBER}" if args.v2 else f"{WHEEL}: {MEMBER}",
            "sha256": mesh.sha256,
            "onnx_vs_tflite": compare_with_tflite(candidate, tflite, inputs, mesh.outputs),
        }
        if report["onnx_vs_tflite"]["max_px"] > MAX_DIFF_PX:
            raise DmsdError(
                f"ONNX and TFLite landmarks differ by up to {report['onnx_vs_tflite']['max_px']:.3f} "
                f"px (over {MAX_DIFF_PX}); the conversion is wrong"
            )
        if args.int8_study:
            report["int8_study"] = int8_study(candidate, inputs, work, input_name=mesh.input_name)
        return candidate, report

    return run_conversion("python -m convert.landmarks", args.out / mesh.file, convert)


if __name__ == "__main__":
    sys.exit(main())
