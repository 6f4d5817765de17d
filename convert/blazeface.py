"""python -m convert.blazeface: MediaPipe's BlazeFace short-range face detector, from the face landmarker bundle to
models/, verified.

    python -m convert.blazeface [--task PATH] [--out models] [--int8-study]

`face_detector.tflite` is read out of MediaPipe's `face_landmarker.task` (a zip; Apache-2.0; default
../shared/models/mediapipe/face_landmarker.task beside the checkout) and checked against a pinned SHA-256. tf2onnx
converts it (opset 17, NCHW input, so no Transpose is left at the input; the four left reorder the heads' outputs to
one row per anchor, as the model's own Reshapes need), its outputs are named `boxes` and `scores`, and the dmsd
metadata is written, with `dmsd.detector` carrying what decoding needs (the SSD anchor options, output names, box
scale, keypoints). The ONNX model is then run beside TensorFlow's own TFLite interpreter on real frames, letterboxed
by the runtime's own code (every 10th frame of the bundled clip, every 10th of three near-infrared clips), and refused
if a raw output differs by more than MAX_BOX_DIFF (box numbers, in input pixels) or MAX_LOGIT_DIFF (score logits)
where it can matter, or by more than MAX_RELATIVE_DIFF relatively anywhere.
Writes OUT/blazeface.fp32.onnx and prints the check as JSON. `--int8-study` also quantizes it (convert/quantize.py,
static, 7-bit weights) and times both, interleaved, on one thread.

FP32 ships (101,108 parameters, 419 KB). Measured with `--int8-study` on a 2-core AMD EPYC with AVX2 (no VNNI): INT8
ran at 2.93 ms p50 against FP32's 2.15 ms (0.73x), and it lost every face (the same face count as FP32 on 0 of 32
frames): on letterboxed frames the anchors over the black bars give score logits down to about -16,600, so MinMax
calibration makes 8-bit steps of tens of logits, where a face is a logit of 0 to 3. INT8 would have to be faster
and find the same faces to ship.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convert.archive import read_member
from convert.frame import run_conversion
from dmsd.errors import DmsdError

if TYPE_CHECKING:
    from dmsd.vision.detectors.blazeface import SsdModel

log = logging.getLogger("convert.blazeface")
ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT.parent / "shared" / "models" / "mediapipe" / "face_landmarker.task"
MEMBER = "face_detector.tflite"
SHA256 = "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f"
INPUT = {"size": [128, 128], "colour": "rgb", "layout": "NCHW", "scale": 1 / 127.5, "offset": -1.0}
# What decoding needs, as MediaPipe's face detector graph configures it (its SsdAnchorsCalculator and
# TensorsToDetectionsCalculator options for the short-range model).
ANCHORS = {
    "num_layers": 4,
    "min_scale": 0.1484375,
    "max_scale": 0.75,
    "input_size_width": 128,
    "input_size_height": 128,
    "anchor_offset_x": 0.5,
    "anchor_offset_y": 0.5,
    "strides": [8, 16, 16, 16],
    "aspect_ratios": [1.0],
    "interpolated_scale_aspect_ratio": 1.0,
    "fixed_anchor_size": True,
    "reduce_boxes_in_lowest_layer": False,
}
DETECTOR = {
    "input_size": [128, 128],
    "anchors": ANCHORS,
    "num_anchors": 896,
    "boxes": "boxes",  # 896 x 16: box centre x, y, width, height, then 6 keypoints' x, y, in input pixels
    "scores": "scores",  # 896 x 1: face-score logits (sigmoid, clipped to +-100 first)
    "box_scale": [128.0, 128.0, 128.0, 128.0],  # x, y, w, h: divide by these, times the anchor's size
    "keypoints": 6,
    "nms": {"algorithm": "weighted", "iou": 0.3},
}
MAX_BOX_DIFF = 0.01  # input pixels of 128
MAX_LOGIT_DIFF = 0.01
MAX_RELATIVE_DIFF = 1e-4  # on every anchor: its largest difference over its largest number (at least 1)
RELEVANT_LOGIT = -20.0  # a score of 2e-9: anchors below it cannot become a face
NIR_CLIPS = ("eye/eye_closed_11.avi", "mouth/yawn_05.avi", "calling/Phoning_03.avi")


def read_tflite(work: Path, task: Path = TASK) -> Path:
    """face_detector.tflite out of the face landmarker bundle, its SHA-256 checked."""
    return read_member(task, MEMBER, SHA256, work / MEMBER)


def tflite_to_onnx(tflite: Path, out: Path) -> None:
    """tf2onnx with NCHW input; outputs renamed for what they hold; the dmsd metadata written."""
    props = {
        "dmsd.task": "face_detector",
        "dmsd.input": json.dumps(INPUT),
        "dmsd.detector": json.dumps(DETECTOR),
        "dmsd.precision": "fp32",
        "dmsd.source": f"MediaPipe face_landmarker.task (Face Landmarker v2), {MEMBER}, sha256 {SHA256}",
        "dmsd.licence": "Apache-2.0 (MediaPipe)",
    }
    ssd_to_onnx(tflite, out, "input", {"regressors": DETECTOR["boxes"], "classificators": DETECTOR["scores"]}, props)


def ssd_to_onnx(tflite: Path, out: Path, input_name: str, renames: dict[str, str], props: dict[str, str]) -> None:
    """An SSD detector's TFLite file to ONNX by tf2onnx (opset 17, the input `input_name` made NCHW), its outputs
    renamed (`renames`: TFLite name to ours; it must have exactly those), `props` written as metadata, with
    dmsd.parameters after dmsd.precision."""
    import onnx
    import tf2onnx

    with contextlib.redirect_stdout(sys.stderr):
        proto, _ = tf2onnx.convert.from_tflite(str(tflite), opset=17, inputs_as_nchw=[input_name])
    if sorted(o.name for o in proto.graph.output) != sorted(renames):
        raise DmsdError(f"{tflite}: outputs {[o.name for o in proto.graph.output]}, expected {sorted(renames)}")
    for node in proto.graph.node:
        node.output[:] = [renames.get(name, name) for name in node.output]
        node.input[:] = [renames.get(name, name) for name in node.input]
    for output in proto.graph.output:
        output.name = renames[output.name]
    parameters = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
        if key == "dmsd.precision":
            proto.metadata_props.add(key="dmsd.parameters", value=str(parameters))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))


def frames(clip_every: int = 10, nir_every: int = 10) -> list[np.ndarray]:
    """Grey frames: every `clip_every`th of the bundled clip, every `nir_every`th of NIR_CLIPS where present."""
    import cv2

    from harness.paths import SHARED

    paths = [(ROOT / "samples" / "incabin_belted_driver.mp4", clip_every)]
    paths += [(SHARED / "driver_video" / "nir_incar" / c, nir_every) for c in NIR_CLIPS]
    found = []
    for path, every in paths:
        if not path.is_file():
            log.warning("%s: missing, left out of the check", path)
            continue
        capture = cv2.VideoCapture(str(path))
        index = 0
        while True:  # read from start to end, never seek (OpenCV miscounts some of these clips)
            ok, image = capture.read()
            if not ok:
                break
            if index % every == 0:
                found.append(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image)
            index += 1
        capture.release()
    return found


def model_inputs(model_path: Path, grey_frames: list[np.ndarray]) -> np.ndarray:
    """The inputs (NCHW) the runtime would give the model for these frames: letterboxed by the plugin's own code."""
    from dmsd.config import DetectorConfig
    from dmsd.vision.detectors.blazeface import BlazefaceDetector

    detector = BlazefaceDetector(DetectorConfig(type="blazeface", plugins={"blazeface": {"path": str(model_path)}}))
    return np.concatenate([detector.letterbox(grey)[0] for grey in grey_frames])


def compare_with_tflite(onnx_path: Path, tflite: Path, inputs: np.ndarray) -> dict:
    """Raw-output differences, and the decoded faces of both compared (compare_ssd_with_tflite)."""
    from dmsd.config import DetectorConfig
    from dmsd.vision.detectors.blazeface import BlazefaceDetector

    detector = BlazefaceDetector(DetectorConfig(type="blazeface", plugins={"blazeface": {"path": str(onnx_path)}}))
    return compare_ssd_with_tflite(detector, tflite, inputs, ("regressors", "classificators"), "face")


def compare_ssd_with_tflite(
    detector: SsdModel, tflite: Path, inputs: np.ndarray, tflite_outputs: tuple[str, str], noun: str
) -> dict:
    """Raw-output differences between the converted SSD model (`detector`) and TensorFlow's TFLite interpreter
    running `tflite` (its outputs `tflite_outputs`: box numbers, score logits) on NCHW `inputs`, and the decoded
    detections of both compared; `noun` names them in the report's keys.

    Anchors on black letterbox bars give logits and box numbers in the thousands, where float rounding differs
    in absolute terms, on those anchors' small numbers too (TFLite's own XNNPACK and reference kernels differ there
    as much): so the absolute check is on the anchors that can matter (a TFLite score logit over RELEVANT_LOGIT), and
    a relative one, each anchor's largest difference over its largest number, on every anchor."""
    import tensorflow as tf

    from dmsd.vision.detectors.blazeface import Square

    interpreter = tf.lite.Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    outputs = {o["name"]: o["index"] for o in interpreter.get_output_details()}
    box_diff, logit_diff, relative, any_logit = 0.0, 0.0, 0.0, 0.0
    found, same_count, box_shift, relevant = 0, 0, 0.0, 0
    identity = Square(0.0, 0.0, 1.0)
    for tensor in inputs:
        interpreter.set_tensor(given["index"], tensor.transpose(1, 2, 0)[None])
        interpreter.invoke()
        ref_boxes = interpreter.get_tensor(outputs[tflite_outputs[0]]).reshape(len(detector.anchors), -1)
        ref_logits = interpreter.get_tensor(outputs[tflite_outputs[1]]).reshape(-1)
        boxes, logits = detector.run(tensor[None])
        near = ref_logits > RELEVANT_LOGIT
        relevant += int(near.sum())
        if near.any():
            box_diff = max(box_diff, float(np.abs(boxes[near] - ref_boxes[near]).max()))
            logit_diff = max(logit_diff, float(np.abs(logits[near] - ref_logits[near]).max()))
        # Per anchor: its numbers' largest difference over the largest of them (at least 1).
        ours, theirs = np.c_[boxes, logits], np.c_[ref_boxes, ref_logits]
        spread = np.abs(ours - theirs).max(axis=1) / np.maximum(np.abs(theirs).max(axis=1), 1.0)
        relative = max(relative, float(spread.max()))
        any_logit = max(any_logit, float(np.abs(logits - ref_logits).max()))
        mine, reference = detector.decode(boxes, logits, identity), detector.decode(ref_boxes, ref_logits, identity)
        found += len(reference)
        if len(mine) == len(reference):
            same_count += 1
            for a, b in zip(mine, reference, strict=True):
                box_shift = max(box_shift, float(np.abs(a.box - b.box).max()))
    return {
        "frames": len(inputs),
        "anchors_checked_absolutely": relevant,
        "boxes_max_abs_diff_px": box_diff,
        "score_logits_max_abs_diff": logit_diff,
        "max_relative_diff_all_anchors": relative,
        "score_logits_max_abs_diff_all_anchors": any_logit,
        f"{noun}s_tflite": found,
        f"frames_with_same_{noun}_count": same_count,
        "decoded_box_max_shift_px": box_shift,
    }


def check_or_refuse(check: dict, max_box: float, max_logit: float, max_relative: float) -> None:
    """DmsdError in one line if the ONNX model's raw outputs differ from TFLite's beyond these tolerances."""
    if (
        check["boxes_max_abs_diff_px"] > max_box
        or check["score_logits_max_abs_diff"] > max_logit
        or check["max_relative_diff_all_anchors"] > max_relative
    ):
        raise DmsdError(
            f"ONNX and TFLite differ by up to {check['boxes_max_abs_diff_px']:.4f} px in boxes, "
            f"{check['score_logits_max_abs_diff']:.4f} in score logits and "
            f"{check['max_relative_diff_all_anchors']:.1e} relatively (over {max_box}, {max_logit}, "
            f"{max_relative}); the conversion is wrong"
        )


def int8_study(fp32: Path, inputs: np.ndarray, work: Path, runs: int = 2000) -> dict:
    """Static INT8 by convert/quantize.py, calibrated on `inputs`, against FP32: latency (interleaved, one thread),
    raw-output and decoded-face differences."""
    import onnxruntime as ort

    from convert.quantize import quantize
    from dmsd.config import DetectorConfig
    from dmsd.offline.timing import time_interleaved
    from dmsd.vision.detectors.blazeface import BlazefaceDetector, Square

    int8 = work / "blazeface.int8.onnx"
    quantize(fp32, int8, inputs, method="minmax")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    paths = {"FP32": fp32, "INT8": int8}
    sessions = {n: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for n, p in paths.items()}
    timed = time_interleaved(
        {n: functools.partial(s.run, None, {"input": inputs[:1]}) for n, s in sessions.items()},
        runs=runs,
        block=50,
        warmup=50,
    )
    detectors = {
        n: BlazefaceDetector(DetectorConfig(type="blazeface", plugins={"blazeface": {"path": str(p)}}))
        for n, p in paths.items()
    }
    identity = Square(0.0, 0.0, 1.0)
    logit_diff, count_agree, shift = 0.0, 0, []
    for tensor in inputs:
        (b32, s32), (b8, s8) = (detectors[n].run(tensor[None]) for n in paths)
        logit_diff = max(logit_diff, float(np.abs(s32 - s8).max()))
        f32, f8 = detectors["FP32"].decode(b32, s32, identity), detectors["INT8"].decode(b8, s8, identity)
        if len(f32) == len(f8):
            count_agree += 1
            shift += [float(np.abs(a.box - b.box).max()) for a, b in zip(f32, f8, strict=True)]
    return {
        "p50_ms": {n: timed[n]["p50_ms"] for n in paths},
        "speed_up": round(timed["FP32"]["p50_ms"] / timed["INT8"]["p50_ms"], 2),
        "bytes": {n: p.stat().st_size for n, p in paths.items()},
        "int8_vs_fp32": {
            "score_logits_max_abs_diff": round(logit_diff, 3),
            "frames_with_same_face_count": f"{count_agree} of {len(inputs)}",
            "box_shift_px_of_128_mean": round(float(np.mean(shift)), 3) if shift else None,
            "box_shift_px_of_128_max": round(float(np.max(shift)), 3) if shift else None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convert.blazeface", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", type=Path, default=TASK, help=f"MediaPipe's face_landmarker.task (default: {TASK})")
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--int8-study", action="store_true", help="also quantize to INT8 and time it beside FP32")
    args = parser.parse_args(argv)

    def convert(work: Path) -> tuple[Path, dict]:
        tflite = read_tflite(work, args.task)
        candidate = work / "blazeface.fp32.onnx"
        tflite_to_onnx(tflite, candidate)
        inputs = model_inputs(candidate, frames())
        report = {
            "source": f"{args.task.name}: {MEMBER}",
            "sha256": SHA256,
            "onnx_vs_tflite": compare_with_tflite(candidate, tflite, inputs),
        }
        check_or_refuse(report["onnx_vs_tflite"], MAX_BOX_DIFF, MAX_LOGIT_DIFF, MAX_RELATIVE_DIFF)
        if args.int8_study:
            report["int8_study"] = int8_study(candidate, inputs, work)
        return candidate, report

    return run_conversion("python -m convert.blazeface", args.out / "blazeface.fp32.onnx", convert)


if __name__ == "__main__":
    sys.exit(main())
