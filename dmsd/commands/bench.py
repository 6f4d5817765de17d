"""`dmsd bench`: how fast the whole pipeline runs on a source, beside a `fer`-style pipeline on the same frames;
without a source, how fast every model in models/ runs, FP32 beside INT8.

    dmsd bench --source clip.mp4 [--size 1280x720] [--threads N] [--passes 3] [--frames N] [--json]
    dmsd bench [--threads N] [--json]

Frames are decoded once (decode is timed then) and kept in memory, so both pipelines see the same frames and
are timed in alternating passes: whatever slows a shared machine for a while slows both alike. A warm-up pass of
each goes first, untimed. Our pipeline keeps its face track from pass to pass, as on the clip looped; the
baseline has no state to keep.

The baseline is the `fer` package's pipeline as it runs its FER(mtcnn=False) detector: the frame padded by 40 px,
OpenCV's default frontal Haar cascade over the whole grey frame at scaleFactor 1.1, minNeighbors 5, 50 px
smallest face, then an emotion CNN on every face. Its CNN here is our own FP32 emotion model (fer's
mini-Xception is not ours to ship); either costs a small fraction of the whole-frame search.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from dmsd import __version__
from dmsd.commands.command import Override
from dmsd.config import Config
from dmsd.driver.state import DriverStateTracker
from dmsd.errors import DmsdError
from dmsd.frames.sources import EndOfSource, make_source
from dmsd.labels import TASK_LABELS
from dmsd.offline.timing import machine, time_pair
from dmsd.publish.stats import percentiles
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.classifier import Classifier
from dmsd.vision.detectors.haar import CASCADES
from dmsd.vision.geometry import Box

FER_PAD, FER_SCALE_FACTOR, FER_MIN_NEIGHBORS, FER_MIN_FACE = 40, 1.1, 5, 50
LIVE_FRAMES = 300  # frames taken from a camera or stream when --frames is not given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        metavar="SRC",
        help="video file, image directory, camera or stream URL; without it, time the models in models/",
    )
    parser.add_argument("--size", metavar="WxH", help="letterbox every frame to this size first (e.g. 1280x720)")
    parser.add_argument("--frames", type=int, metavar="N", help=f"use the first N frames (live: {LIVE_FRAMES})")
    parser.add_argument("--passes", type=int, default=3, metavar="N", help="timed passes of each pipeline")
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads for OpenCV and for each model (overrides detector.threads and models.intra_op_threads)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the fer-style pipeline")
    parser.add_argument("--runs", type=int, default=3000, metavar="N", help="model timing: calls per model")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def overrides(args: argparse.Namespace) -> list[Override]:
    if args.threads is None:
        return []
    return [Override("--threads", {"detector.threads": args.threads, "models.intra_op_threads": args.threads})]


def run(config: Config, args: argparse.Namespace) -> int:
    for name in ("frames", "passes", "runs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise DmsdError(f"--{name} must be at least 1 (got {value})")
    report = {
        "dmsd": __version__,
        "machine": machine(),
        "threads": {"opencv": config.detector.threads, "onnxruntime_intra_op": config.models.intra_op_threads},
    }
    if args.source is None:
        report["models"] = bench_models(config, args.runs)
    else:
        report.update(bench_source(config, args))
    print(json.dumps(report) if args.json else render(report))
    return 0


def bench_models(config: Config, runs: int) -> dict:
    """Every task with both an FP32 and an INT8 file in models.dir, the two timed interleaved."""
    folder = Path(config.models.dir)
    if not folder.is_dir():
        folder = config.models.resolve("emotion").parent
    result = {}
    for task in TASK_LABELS:
        if all((folder / f"{task}.{p}.onnx").is_file() for p in ("fp32", "int8")):
            result[task] = time_pair(folder, task, runs, config.models.intra_op_threads)
    if not result:
        raise DmsdError(f"models.dir {folder}: no <task>.fp32.onnx beside <task>.int8.onnx to time")
    return result


@dataclass
class PassTimes:
    """Per-frame stage times (ms) over the timed passes of one pipeline."""

    stages: dict[str, list[float]] = field(default_factory=dict)
    fps: list[float] = field(default_factory=list)
    frames_with_face: int = 0

    def add(self, stages: dict[str, float]) -> None:
        for stage, ms in stages.items():
            self.stages.setdefault(stage, []).append(ms)

    def summary(self) -> dict:
        stages = {name: percentiles(v, suffix="_ms") for name, v in self.stages.items()}
        total = stages["total"]
        return {
            "frames_with_face": self.frames_with_face,
            "fps": round(float(np.median(self.fps)), 1),
            "stages": stages,
            "p99_over_p50": round(total["p99_ms"] / total["p50_ms"], 2),
        }


def run_pass(
    pipeline: OurPipeline | FerStylePipeline,
    frames: list[np.ndarray],
    decode_ms: list[float],
    times: PassTimes | None = None,
    count_faces: bool = False,
) -> None:
    """Every frame once through `pipeline.process`; with `times`, each frame's stages and the pass's fps."""
    started = time.perf_counter()
    for index, (image, decode) in enumerate(zip(frames, decode_ms, strict=True)):
        t0 = time.perf_counter()
        stages, face = pipeline.process(image, index)
        total = (time.perf_counter() - t0) * 1000
        if times is not None:
            times.add({"decode": decode, **stages, "total": decode + total})
            times.frames_with_face += count_faces and face
    if times is not None:
        times.fps.append(len(frames) / (time.perf_counter() - started + sum(decode_ms) / 1000))


def bench_source(config: Config, args: argparse.Namespace) -> dict:
    size = parse_size(args.size) if args.size else None
    frames, decode_ms = load_frames(config, args.source, args.frames, size)
    ours = OurPipeline(config)
    baseline = None if args.no_baseline else FerStylePipeline(config)
    contenders = {"pipeline": ours} | ({"baseline": baseline} if baseline else {})
    times = {name: PassTimes() for name in contenders}
    for pipeline in contenders.values():
        run_pass(pipeline, frames, decode_ms)  # warm-up: caches, ONNX Runtime's first runs, the first track
    for timed in range(args.passes):
        for name, pipeline in contenders.items():
            run_pass(pipeline, frames, decode_ms, times[name], count_faces=timed == 0)
    height, width = frames[0].shape[:2]
    result = {
        "source": args.source,
        "frame_size": [width, height],
        "frames": len(frames),
        "passes": args.passes,
        "models": ours.analyzer.models(),
        **times["pipeline"].summary(),
    }
    if baseline:
        result["baseline"] = {
            "name": "fer-style",
            "settings": {
                "pad_px": FER_PAD,
                "scale_factor": FER_SCALE_FACTOR,
                "min_neighbors": FER_MIN_NEIGHBORS,
                "min_face_px": FER_MIN_FACE,
                "emotion_model": str(baseline.emotion.path),
            },
            **times["baseline"].summary(),
        }
        result["speedup_vs_baseline"] = round(result["fps"] / result["baseline"]["fps"], 2)
    return result


class OurPipeline:
    """What the daemon does with a frame: the face stage (tracking, the face mesh), both models, the driver state."""

    def __init__(self, config: Config):
        self.analyzer = Analyzer.from_config(config, video=True)
        self.state = DriverStateTracker(config.state, config.alertness, config.phone, config.eyes)

    def process(self, image: np.ndarray, index: int) -> tuple[dict[str, float], bool]:
        result = self.analyzer.analyze(image, "bench", float(index))
        started = time.perf_counter()
        self.state.update(result)
        stages = {stage: ms for stage, ms in result.latency_ms.items() if stage != "total"}
        return {**stages, "state": (time.perf_counter() - started) * 1000}, result.face is not None


class FerStylePipeline:
    """The `fer` package's face stage, reproduced, with an emotion CNN on every face."""

    def __init__(self, config: Config):
        self.cascade = cv2.CascadeClassifier(str(CASCADES / "haarcascade_frontalface_default.xml"))
        folder = config.models.resolve("emotion").parent
        fp32 = folder / "emotion.fp32.onnx"
        self.emotion = Classifier(
            fp32 if fp32.is_file() else config.models.resolve("emotion"),
            "emotion",
            config.models.intra_op_threads,
            config.models.inter_op_threads,
        )

    def faces(self, image: np.ndarray) -> tuple[np.ndarray, list[Box]]:
        padded = cv2.copyMakeBorder(image, FER_PAD, FER_PAD, FER_PAD, FER_PAD, cv2.BORDER_CONSTANT)
        grey = cv2.cvtColor(padded, cv2.COLOR_BGR2GRAY) if padded.ndim == 3 else padded
        found = self.cascade.detectMultiScale(
            grey, scaleFactor=FER_SCALE_FACTOR, minNeighbors=FER_MIN_NEIGHBORS, minSize=(FER_MIN_FACE, FER_MIN_FACE)
        )
        return grey, [Box(*map(int, f)) for f in found]

    def process(self, image: np.ndarray, index: int) -> tuple[dict[str, float], bool]:
        t0 = time.perf_counter()
        grey, faces = self.faces(image)
        t1 = time.perf_counter()
        for face in faces:
            self.emotion.predict(grey, grey, face)
        stages = {"detect": (t1 - t0) * 1000}
        if faces:
            stages["emotion"] = (time.perf_counter() - t1) * 1000
        return stages, bool(faces)


def load_frames(
    config: Config, uri: str, limit: int | None, size: tuple[int, int] | None
) -> tuple[list[np.ndarray], list[float]]:
    """Decoded frames and the time each took to read (for a camera, that includes waiting for it)."""
    source_config = replace(config.source, uri=uri, realtime=False, loop=False)
    source = make_source(source_config)
    source.open()
    wanted = limit or (LIVE_FRAMES if source.live else None)
    frames: list[np.ndarray] = []
    decode_ms: list[float] = []
    try:
        deadline = time.monotonic() + source_config.stall_timeout_s
        while wanted is None or len(frames) < wanted:
            started = time.perf_counter()
            try:
                frame = source.read(timeout=0.25)
            except EndOfSource:
                break
            if frame is None:
                if time.monotonic() > deadline:
                    break
                continue
            decode_ms.append((time.perf_counter() - started) * 1000)
            frames.append(letterbox(frame.image, size) if size else frame.image)
            deadline = time.monotonic() + source_config.stall_timeout_s
    finally:
        source.close()
    if not frames:
        raise DmsdError(f"source {uri}: yielded no frames")
    return frames, decode_ms


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image scaled to fit width x height, centred on black: faces keep their proportions."""
    width, height = size
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    scaled = cv2.resize(
        image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    out = np.zeros((height, width) + image.shape[2:], image.dtype)
    y, x = (height - scaled.shape[0]) // 2, (width - scaled.shape[1]) // 2
    out[y : y + scaled.shape[0], x : x + scaled.shape[1]] = scaled
    return out


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match or not all(16 <= int(v) <= 8192 for v in match.groups()):
        raise DmsdError(f"--size {text}: expected WIDTHxHEIGHT, each 16-8192 (e.g. 1280x720)")
    return int(match[1]), int(match[2])


def render(report: dict) -> str:
    """A human-readable summary of the JSON report."""
    lines = [
        f"dmsd {report['dmsd']} bench on {report['machine']['cpu']} "
        f"({report['machine']['usable_cores']} usable cores), threads: OpenCV {report['threads']['opencv']}, "
        f"ONNX Runtime {report['threads']['onnxruntime_intra_op']}"
    ]
    if "frame_size" not in report:  # the models alone, FP32 beside INT8
        lines.append(f"{'model':10} {'FP32 p50':>10} {'INT8 p50':>10} {'INT8 speed-up':>14}  INT8 file (this CPU's)")
        for task, r in report["models"].items():
            lines.append(
                f"{task:10} {r['fp32']['p50_ms']:>8.3f}ms {r['int8']['p50_ms']:>8.3f}ms {r['int8_speedup']:>13.2f}x"
                f"  {r['int8']['file']}"
            )
        return "\n".join(lines)
    w, h = report["frame_size"]
    lines.append(f"{report['source']}: {report['frames']} frames of {w}x{h}, {report['passes']} timed passes")
    rows = [("dmsd", report)] + ([("fer-style", report["baseline"])] if "baseline" in report else [])
    lines.append(f"{'pipeline':10} {'fps':>7} {'faces':>7} {'frame p50':>10} {'frame p99':>10} {'detect p50':>11}")
    for name, r in rows:
        lines.append(
            f"{name:10} {r['fps']:>7.1f} {r['frames_with_face']:>7} {r['stages']['total']['p50_ms']:>8.2f}ms "
            f"{r['stages']['total']['p99_ms']:>8.2f}ms {r['stages']['detect']['p50_ms']:>9.2f}ms"
        )
    if "speedup_vs_baseline" in report:
        lines.append(f"dmsd is {report['speedup_vs_baseline']:.1f}x the fer-style pipeline's frames per second")
    lines.append(
        "per stage (p50 / p99 ms): "
        + ", ".join(f"{stage} {v['p50_ms']:.2f}/{v['p99_ms']:.2f}" for stage, v in report["stages"].items())
    )
    return "\n".join(lines)
