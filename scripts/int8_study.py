"""What makes ONNX Runtime's INT8 faster than FP32 for one trained model: every quantization choice, measured
side by side in one run (latency p50 at batch 1 on one thread, all variants and the FP32 model timed
interleaved; speed-up over the model's own FP32; accuracy on the run's held-out inputs).

    .venv/bin/python -m scripts.int8_study runs/emotion-v0 [--runs 2000] [--calib-size 500]
Prints a markdown table and writes RUN_DIR/int8_study.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from convert.export import keras_to_onnx, nhwc_to_nchw
from convert.quantize import quantize
from dmsd.offline.timing import time_interleaved

LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
}


def session(path: Path, level: str = "all") -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = LEVELS[level]
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def accuracy(sess: ort.InferenceSession, x: np.ndarray, y: np.ndarray) -> float:
    name = sess.get_inputs()[0].name
    predicted = [sess.run(None, {name: x[i : i + 1]})[0].argmax() for i in range(len(x))]
    return float((np.array(predicted) == y).mean())


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--calib-size", type=int, default=500)
    args = parser.parse_args()
    samples = np.load(args.run / "samples.npz")
    calib = nhwc_to_nchw(samples["calib"])
    x, y = nhwc_to_nchw(samples["verify"]), samples["verify_labels"]
    one = x[:1]
    n = args.calib_size
    variants = [  # name, format, per_channel, activations, method, optimization level, calibration faces
        (f"QDQ, per-channel, u8 act, MinMax, {n} faces", "qdq", True, "u8", "minmax", "all", n),
        (f"QDQ, per-tensor, u8 act, MinMax, {n} faces", "qdq", False, "u8", "minmax", "all", n),
        (f"QDQ, per-channel, s8 act, MinMax, {n} faces", "qdq", True, "s8", "minmax", "all", n),
        (f"QOperator, per-channel, u8 act, MinMax, {n} faces", "qoperator", True, "u8", "minmax", "all", n),
        (f"QOperator, per-tensor, u8 act, MinMax, {n} faces", "qoperator", False, "u8", "minmax", "all", n),
        (f"QDQ, per-channel, u8 act, Entropy, {n} faces", "qdq", True, "u8", "entropy", "all", n),
        (f"QDQ, per-channel, u8 act, Percentile, {n} faces", "qdq", True, "u8", "percentile", "all", n),
        ("QDQ, per-channel, u8 act, MinMax, 100 faces", "qdq", True, "u8", "minmax", "all", 100),
        ("QDQ, per-channel, u8 act, MinMax, 1000 faces", "qdq", True, "u8", "minmax", "all", 1000),
        (
            f"QDQ, per-channel, u8 act, MinMax, {n} faces, ORT basic graph optimisation",
            "qdq",
            True,
            "u8",
            "minmax",
            "basic",
            n,
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fp32 = tmp / "fp32.onnx"
        keras_to_onnx(keras.models.load_model(args.run / "best.keras", compile=False), fp32)
        paths, sessions = {"FP32": fp32}, {"FP32": session(fp32)}
        for i, (name, fmt, per_channel, activations, method, level, size) in enumerate(variants):
            paths[name] = tmp / f"v{i}.onnx"
            quantize(fp32, paths[name], calib[:size], method, fmt, per_channel, activations)
            sessions[name] = session(paths[name], level)
        feeds = {name: {s.get_inputs()[0].name: one} for name, s in sessions.items()}
        timed = time_interleaved(
            {name: (lambda s=s, f=feeds[name]: s.run(None, f)) for name, s in sessions.items()}, args.runs
        )
        rows = []
        for name, sess in sessions.items():
            rows.append(
                {
                    "variant": name,
                    "p50_ms": timed[name]["p50_ms"],
                    "speedup": round(timed["FP32"]["p50_ms"] / timed[name]["p50_ms"], 2),
                    "accuracy": round(accuracy(sess, x, y), 4),
                    "bytes": paths[name].stat().st_size,
                }
            )
            print(rows[-1], flush=True)
    (args.run / "int8_study.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| variant | p50 ms | speed-up vs FP32 | accuracy | bytes |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['variant']} | {r['p50_ms']:.3f} | {r['speedup']:.2f}x | {r['accuracy']:.2%} | {r['bytes']:,} |")


if __name__ == "__main__":
    main()
