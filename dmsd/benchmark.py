"""Timing of models, shared by the model card generator and the measurement scripts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dmsd.models import Classifier


def time_model(path: Path, task: str, runs: int = 3000, threads: int = 1, warmup: int = 200) -> dict:
    """Latency of one model at batch 1: p50 and p99 in ms over `runs` calls after a warm-up."""
    model = Classifier(path, task, threads, 1)
    spec = model.input
    channels = 1 if spec.colour == "grey" else 3
    shape = (1, channels, spec.height, spec.width) if spec.layout == "NCHW" else (1, spec.height, spec.width, channels)
    tensor = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(warmup):
        model.run(tensor)
    times = np.empty(runs)
    for i in range(runs):
        started = time.perf_counter()
        model.run(tensor)
        times[i] = time.perf_counter() - started
    return {"p50_ms": round(float(np.percentile(times, 50)) * 1000, 4),
            "p99_ms": round(float(np.percentile(times, 99)) * 1000, 4), "bytes": Path(path).stat().st_size}


def time_pair(models_dir: Path, task: str, runs: int = 3000, threads: int = 1) -> dict:
    """FP32 beside INT8 of one task, measured in the same run, with the speed-up."""
    result = {p: time_model(Path(models_dir) / f"{task}.{p}.onnx", task, runs, threads) for p in ("fp32", "int8")}
    result["int8_speedup"] = round(result["fp32"]["p50_ms"] / result["int8"]["p50_ms"], 2)
    return result
