"""Per-model latency of every model in models/, FP32 beside INT8, measured in one run: batch 1, one thread,
median and p99 over many runs after a warm-up. Prints JSON.

    .venv/bin/python scripts/measure_models.py [--runs 3000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dmsd.models import Classifier

ROOT = Path(__file__).resolve().parent.parent


def time_model(path: Path, task: str, runs: int, threads: int) -> dict:
    model = Classifier(path, task, threads, 1)
    spec = model.input
    channels = 1 if spec.colour == "grey" else 3
    shape = (1, channels, spec.height, spec.width) if spec.layout == "NCHW" else (1, spec.height, spec.width, channels)
    tensor = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(200):
        model.run(tensor)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        model.run(tensor)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 4), "p99_ms": round(float(np.percentile(times, 99)), 4),
            "bytes": path.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    out = {}
    for task in ("emotion", "seatbelt"):
        results = {p: time_model(ROOT / "models" / f"{task}.{p}.onnx", task, args.runs, args.threads)
                   for p in ("fp32", "int8")}
        results["int8_speedup"] = round(results["fp32"]["p50_ms"] / results["int8"]["p50_ms"], 2)
        out[task] = results
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
