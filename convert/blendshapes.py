"""python -m convert.blendshapes: MediaPipe's face blendshapes model, from the face landmarker bundle to models/,
verified.

    python -m convert.blendshapes [--task PATH] [--out models] [--landmarks PATH] [--int8-study]

`face_blendshapes.tflite` is read out of MediaPipe's `face_landmarker.task` (a zip; Apache-2.0; default
../shared/models/mediapipe/face_landmarker.task beside the checkout) and checked against a pinned SHA-256. It takes
146 of the v2 face mesh's 478 points, x and y in the frame's pixels ([1, 146, 2]: MediaPipe's graph hands it its
normalised points times the image size), and gives 52 scores (ARKit-style blendshapes, 0..1). tf2onnx converts it
(opset 17); its input and output are named `points` and `scores`, and the dmsd metadata is written: `dmsd.blendshapes`
carries the mesh indices in input order and the score names in output order, as MediaPipe's Face Landmarker graph
(face_blendshapes_graph.cc) specifies them, and the two tensor names.

The ONNX model is then run beside TensorFlow's own TFLite interpreter on real meshes: the v2 mesh
(models/landmarks_v2.fp32.onnx, through dmsd's own LandmarkModel) of the faces that dmsd's still-image search finds
in every 5th frame of the bundled clip and of three near-infrared clips (eyes shut, a yawn, a call), and refused if a
score differs by more than MAX_SCORE_DIFF. Writes OUT/blendshapes.fp32.onnx and prints the check as JSON.
`--int8-study` also quantizes it (convert/quantize.py, static, 7-bit weights, calibrated on the same meshes) and
times both, interleaved, on one thread.

FP32 ships (450,580 parameters, 1.9 MB). Measured with `--int8-study` on a 2-core AMD EPYC with AVX2 (no VNNI): INT8
ran at 1.78 ms p50 against FP32's 2.52 ms (1.42x), but its scores moved from FP32's by 0.018 on average and by up to
0.37 (models/README.md, "Blendshapes"). INT8 would have to be faster and within INT8_MAX_SCORE_DIFF of FP32's scores
on every face to ship.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import sys
from pathlib import Path

import numpy as np

from convert.archive import read_member
from convert.frame import run_conversion
from dmsd.errors import DmsdError

log = logging.getLogger("convert.blendshapes")
ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT.parent / "shared" / "models" / "mediapipe" / "face_landmarker.task"
MEMBER = "face_blendshapes.tflite"
SHA256 = "4f36dded049db18d76048567439b2a7f58f1daabc00d78bfe8f3ad396a2d2082"
TFLITE_INPUT, TFLITE_OUTPUT = "serving_default_input_points:0", "StatefulPartitionedCall:0"
INPUT_NAME, SCORES_NAME = "points", "scores"
# The v2 mesh's points the model takes, in its input order: face and lips, eyes and brows, then the ten iris points.
MESH_POINTS = (
    [0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80]
    + [81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152]
    + [153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246]
    + [249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312]
    + [314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381]
    + [382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466]
    + list(range(468, 478))
)
# The scores in output order. Left and right are the person's own; `_neutral` is MediaPipe's "ignore it".


def _sides(*parts: str) -> list[str]:
    return [f"{part}{side}" for part in parts for side in ("Left", "Right")]


SCORE_NAMES = (
    ["_neutral", *_sides("browDown"), "browInnerUp", *_sides("browOuterUp"), "cheekPuff"]
    + _sides("cheekSquint", "eyeBlink", "eyeLookDown", "eyeLookIn", "eyeLookOut", "eyeLookUp", "eyeSquint", "eyeWide")
    + ["jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", *_sides("mouthDimple", "mouthFrown")]
    + ["mouthFunnel", "mouthLeft", *_sides("mouthLowerDown", "mouthPress"), "mouthPucker", "mouthRight"]
    + ["mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper"]
    + _sides("mouthSmile", "mouthStretch", "mouthUpperUp", "noseSneer")
)
LAYOUT = {"points": MESH_POINTS, "names": SCORE_NAMES, "input": INPUT_NAME, "scores": SCORES_NAME}
MAX_SCORE_DIFF = 1e-3
INT8_MAX_SCORE_DIFF = 0.01
NIR_CLIPS = ("eye/eye_closed_11.avi", "mouth/yawn_05.avi", "calling/Phoning_03.avi")
MIN_PRESENCE = 0.5  # a mesh the model itself doubts is a face is left out


def read_tflite(work: Path, task: Path = TASK) -> Path:
    """face_blendshapes.tflite out of the face landmarker bundle, its SHA-256 checked."""
    return read_member(task, MEMBER, SHA256, work / MEMBER)


def tflite_to_onnx(tflite: Path, out: Path) -> None:
    """tf2onnx; the input and output renamed `points` and `scores`; the dmsd metadata written."""
    import onnx
    import tf2onnx

    with contextlib.redirect_stdout(sys.stderr):
        proto, _ = tf2onnx.convert.from_tflite(str(tflite), opset=17)
    graph = proto.graph
    have = ([i.name for i in graph.input], [o.name for o in graph.output])
    if have != ([TFLITE_INPUT], [TFLITE_OUTPUT]):
        raise DmsdError(f"{tflite}: inputs and outputs {have}, expected [{TFLITE_INPUT}] and [{TFLITE_OUTPUT}]")
    shapes = [[d.dim_value for d in t.type.tensor_type.shape.dim] for t in (graph.input[0], graph.output[0])]
    if shapes != [[1, len(MESH_POINTS), 2], [len(SCORE_NAMES)]]:
        raise DmsdError(f"{tflite}: takes {shapes[0]} and gives {shapes[1]}, not the model this converter knows")
    renames = {TFLITE_INPUT: INPUT_NAME, TFLITE_OUTPUT: SCORES_NAME}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    graph.input[0].name, graph.output[0].name = INPUT_NAME, SCORES_NAME
    parameters = sum(int(np.prod(t.dims)) for t in graph.initializer)
    props = {
        "dmsd.task": "blendshapes",
        "dmsd.blendshapes": json.dumps(LAYOUT),
        "dmsd.precision": "fp32",
        "dmsd.parameters": str(parameters),
        "dmsd.source": f"MediaPipe face_landmarker.task (Face Landmarker v2), {MEMBER}, sha256 {SHA256}",
        "dmsd.licence": "Apache-2.0 (MediaPipe)",
    }
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))


def clips(every: int = 5, nir_every: int = 5) -> list[tuple[str, int]]:
    """The clips the check reads, each with its frame step: the bundled clip, and NIR_CLIPS where present."""
    from harness.paths import SHARED

    found = [(str(ROOT / "samples" / "incabin_belted_driver.mp4"), every)]
    for clip in NIR_CLIPS:
        path = SHARED / "driver_video" / "nir_incar" / clip
        if path.is_file():
            found.append((str(path), nir_every))
        else:
            log.warning("%s: missing, left out of the check", path)
    return found


def mesh_inputs(landmarks: Path, every: int = 5, nir_every: int = 5) -> np.ndarray:
    """The model's inputs (N x 146 x 2) as the runtime would give them: the v2 mesh, in frame pixels, of each face that
    dmsd's still-image search finds in every `every`th frame of the bundled clip (`nir_every`th of NIR_CLIPS)."""
    import cv2

    from dmsd.config import DetectorConfig
    from dmsd.vision.detectors import make_detector
    from dmsd.vision.face_finder import make_face_finder
    from dmsd.vision.landmarks import LandmarkModel

    config = DetectorConfig()  # the still-image search as dmsd runs it by default: Haar, then BlazeFace
    mesh, faces = LandmarkModel(landmarks), make_face_finder(make_detector(config), config, video=False)
    if mesh.points <= max(MESH_POINTS):
        raise DmsdError(f"{landmarks}: gives {mesh.points} points; the blendshapes model needs the v2 mesh's 478")
    inputs = []
    for path, step in clips(every, nir_every):
        capture = cv2.VideoCapture(path)
        index = 0
        while True:  # read from start to end, never seek (OpenCV miscounts some of these clips)
            ok, image = capture.read()
            if not ok:
                break
            if index % step == 0:
                face = faces.find(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image)
                if face is not None:
                    found = mesh.predict(image, face)
                    if found.presence >= MIN_PRESENCE:
                        inputs.append(found.points[MESH_POINTS, :2])
            index += 1
        capture.release()
    if not inputs:
        raise DmsdError("no face found in the check's clips: nothing to check the conversion on")
    return np.ascontiguousarray(np.stack(inputs), dtype=np.float32)


def compare_with_tflite(onnx_path: Path, tflite: Path, inputs: np.ndarray) -> dict:
    """Largest and mean score difference between the ONNX model and TFLite's interpreter, over `inputs`."""
    import onnxruntime as ort
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    given, wanted = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    diffs, reference = [], []
    for points in inputs:
        interpreter.set_tensor(given, points[None])
        interpreter.invoke()
        theirs = interpreter.get_tensor(wanted).ravel()
        ours = session.run([SCORES_NAME], {INPUT_NAME: points[None]})[0].ravel()
        diffs.append(np.abs(ours - theirs))
        reference.append(theirs)
    diff, scores = np.stack(diffs), np.stack(reference)
    return {
        "faces": len(inputs),
        "scores_max_abs_diff": float(diff.max()),
        "scores_mean_abs_diff": float(diff.mean()),
        "tflite_scores_range": [float(scores.min()), float(scores.max())],
    }


def int8_study(fp32: Path, inputs: np.ndarray, work: Path, runs: int = 3000) -> dict:
    """Static INT8 by convert/quantize.py, calibrated on `inputs`, against FP32: latency (interleaved, one thread)
    and score differences."""
    import onnxruntime as ort

    from convert.quantize import quantize
    from dmsd.offline.timing import time_interleaved

    int8 = work / "blendshapes.int8.onnx"
    quantize(fp32, int8, inputs, method="minmax")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    paths = {"FP32": fp32, "INT8": int8}
    sessions = {n: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for n, p in paths.items()}
    scores = {
        n: np.stack([s.run([SCORES_NAME], {INPUT_NAME: x[None]})[0].ravel() for x in inputs])
        for n, s in sessions.items()
    }
    timed = time_interleaved(
        {n: functools.partial(s.run, None, {INPUT_NAME: inputs[:1]}) for n, s in sessions.items()},
        runs=runs,
        block=100,
        warmup=100,
    )
    diff = np.abs(scores["INT8"] - scores["FP32"])
    return {
        "p50_ms": {n: timed[n]["p50_ms"] for n in paths},
        "speed_up": round(timed["FP32"]["p50_ms"] / timed["INT8"]["p50_ms"], 2),
        "bytes": {n: p.stat().st_size for n, p in paths.items()},
        "int8_vs_fp32": {
            "scores_max_abs_diff": round(float(diff.max()), 4),
            "scores_mean_abs_diff": round(float(diff.mean()), 4),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convert.blendshapes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", type=Path, default=TASK, help=f"MediaPipe's face_landmarker.task (default: {TASK})")
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument(
        "--landmarks",
        type=Path,
        default=ROOT / "models" / "landmarks_v2.fp32.onnx",
        help="the v2 face mesh that gives the check its inputs (default: models/landmarks_v2.fp32.onnx)",
    )
    parser.add_argument("--int8-study", action="store_true", help="also quantize to INT8 and time it beside FP32")
    args = parser.parse_args(argv)

    def convert(work: Path) -> tuple[Path, dict]:
        tflite = read_tflite(work, args.task)
        candidate = work / "blendshapes.fp32.onnx"
        tflite_to_onnx(tflite, candidate)
        inputs = mesh_inputs(args.landmarks)
        report: dict = {
            "source": f"{args.task.name}: {MEMBER}",
            "sha256": SHA256,
            "onnx_vs_tflite": compare_with_tflite(candidate, tflite, inputs),
        }
        worst = report["onnx_vs_tflite"]["scores_max_abs_diff"]
        if worst > MAX_SCORE_DIFF:
            raise DmsdError(
                f"ONNX and TFLite scores differ by up to {worst:.2e} (over {MAX_SCORE_DIFF}); the conversion is wrong"
            )
        if args.int8_study:
            report["int8_study"] = int8_study(candidate, inputs, work)
        return candidate, report

    return run_conversion("python -m convert.blendshapes", args.out / "blendshapes.fp32.onnx", convert)


if __name__ == "__main__":
    sys.exit(main())
