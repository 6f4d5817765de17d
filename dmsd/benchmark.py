"""Timing of models, shared by the model card generator and the measurement scripts.

Machines are shared and noisy, so FP32 and INT8 are timed interleaved, in alternating short blocks: whatever
slows the machine for a while slows both, and their ratio stays honest.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dmsd.models import Classifier


def _input_for(model: Classifier) -> np.ndarray:
    spec = model.input
    channels = 1 if spec.colour == "grey" else 3
    shape = (1, channels, spec.height, spec.width) if spec.layout == "NCHW" else (1, spec.height, spec.width, channels)
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def _block(model: Classifier, tensor: np.ndarray, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        model.run(tensor)
        times.append(time.perf_counter() - started)
    return times


def _summary(times: list[float], path: Path) -> dict:
    ms = np.array(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4),
            "bytes": Path(path).stat().st_size}


def time_models(paths: dict[str, Path], task: str, runs: int = 3000, threads: int = 1, block: int = 100) -> dict:
    """Latency at batch 1 of several models of one task, interleaved block by block: p50 and p99 in ms."""
    models = {name: Classifier(path, task, threads, 1) for name, path in paths.items()}
    tensors = {name: _input_for(model) for name, model in models.items()}
    for name, model in models.items():
        _block(model, tensors[name], 200)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(max(1, runs // block)):
        for name, model in models.items():
            times[name] += _block(model, tensors[name], block)
    return {name: _summary(times[name], paths[name]) for name in models}


def time_model(path: Path, task: str, runs: int = 3000, threads: int = 1) -> dict:
    return time_models({"model": Path(path)}, task, runs, threads)["model"]


def time_pair(models_dir: Path, task: str, runs: int = 3000, threads: int = 1) -> dict:
    """FP32 beside INT8 of one task, interleaved in one run, with the speed-up."""
    result = time_models({p: Path(models_dir) / f"{task}.{p}.onnx" for p in ("fp32", "int8")}, task, runs, threads)
    result["int8_speedup"] = round(result["fp32"]["p50_ms"] / result["int8"]["p50_ms"], 2)
    return result
