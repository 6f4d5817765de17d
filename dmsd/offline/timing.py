"""Timing, shared by the model card generator and the measurement scripts.

Machines are shared and noisy, so whatever is compared is timed interleaved, in alternating short blocks:
whatever slows the machine for a while slows every contender alike, and their ratios stay honest.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from dmsd.publish.stats import percentiles
from dmsd.vision.classifier import Classifier


def time_interleaved(
    calls: Mapping[str, Callable[[], object]], runs: int = 3000, block: int = 100, warmup: int = 200
) -> dict[str, dict]:
    """p50 and p99 in ms of each callable, over `runs` calls each, timed in alternating blocks of `block`."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(max(1, runs // block)):
        for name, call in calls.items():
            for _ in range(block):
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
    return {name: percentiles([s * 1000 for s in t], 4, "_ms") for name, t in times.items()}


def machine() -> dict:
    """What a figure was measured on: the CPU (and whether it has AVX-512 VNNI, which INT8 kernels use), cores,
    versions."""
    cpu, flags = platform.processor() or platform.machine(), ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        cpu = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), cpu
        )
        flags = cpuinfo
    except OSError:
        pass
    return {
        "cpu": cpu,
        "avx512_vnni": "avx512_vnni" in flags,
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "onnxruntime": ort.__version__,
    }


def _input_for(model: Classifier) -> np.ndarray:
    spec = model.input
    channels = 1 if spec.colour == "grey" else 3
    shape = (1, channels, spec.height, spec.width) if spec.layout == "NCHW" else (1, spec.height, spec.width, channels)
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def time_models(paths: dict[str, Path], task: str, runs: int = 3000, threads: int = 1) -> dict:
    """Latency at batch 1 of several models of one task, interleaved; with each file's name and size (the file
    opened: an INT8 file's full-weights twin where this CPU runs it, dmsd.vision.int8_weights)."""
    models = {name: Classifier(path, task, threads, 1) for name, path in paths.items()}
    calls = {name: functools.partial(model.run, _input_for(model)) for name, model in models.items()}
    result = time_interleaved(calls, runs)
    for name, model in models.items():
        result[name].update(file=model.path.name, bytes=model.path.stat().st_size)
    return result


def time_pair(models_dir: Path, task: str, runs: int = 3000, threads: int = 1) -> dict:
    """FP32 beside INT8 of one task, interleaved in one run, with the speed-up."""
    result = time_models({p: Path(models_dir) / f"{task}.{p}.onnx" for p in ("fp32", "int8")}, task, runs, threads)
    result["int8_speedup"] = round(result["fp32"]["p50_ms"] / result["int8"]["p50_ms"], 2)
    return result
