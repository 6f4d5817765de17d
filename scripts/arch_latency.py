"""Latency of candidate emotion architectures, FP32 beside INT8, before any training: weights do not change the
cost of a convolution, so randomly initialised networks, exported and quantized by the real convert/ code, give
the per-face latency each shape would have. Batch 1, one thread, medians, FP32 and INT8 timed interleaved.

    .venv/bin/python -m scripts.arch_latency [--runs 2000]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import numpy as np

from convert.export import keras_to_onnx
from convert.quantize import quantize
from dmsd.offline.timing import time_interleaved
from scripts.int8_study import session
from train.emotion import ARCHITECTURES

CANDIDATES = [
    ("plain", 16),
    ("plain_lean", 16),
    ("plain_lean_fc", 16),
    ("plain", 12),
    ("plain_lean", 24),
    ("plain", 24),
    ("separable", 16),
    ("separable", 32),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    calib = np.random.default_rng(0).random((64, 1, 48, 48), dtype=np.float32)
    one = calib[:1]
    print("| architecture | parameters | FP32 p50 ms | INT8 p50 ms | INT8 speed-up |\n| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for arch, width in CANDIDATES:
            model = ARCHITECTURES[arch](width)
            fp32, int8 = Path(tmp) / f"{arch}{width}.onnx", Path(tmp) / f"{arch}{width}.int8.onnx"
            keras_to_onnx(model, fp32)
            quantize(fp32, int8, calib)
            sessions = {"fp32": session(fp32), "int8": session(int8)}
            runners = {
                name: functools.partial(s.run, None, {s.get_inputs()[0].name: one}) for name, s in sessions.items()
            }
            timed = time_interleaved(runners, args.runs)
            f, q = timed["fp32"]["p50_ms"], timed["int8"]["p50_ms"]
            print(f"| {arch}{width} | {model.count_params():,} | {f:.3f} | {q:.3f} | {f / q:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
