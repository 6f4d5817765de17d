"""Tune the face stage on real frames: hit rate and time of the tracker's settings on the bundled clip (at its
own size and letterboxed to 640x480 and 1280x720), and of the Haar parameters on person_crops' stills, each
beside the full search (and the `fer`-style search) in the same run.

    .venv/bin/python -m scripts.tune_face_stage [--json]

Frames with a face are what it counts: neither set has face boxes marked, so a face-like patch found counts
too (the full search takes a headrest for a face in a few of the clip's frames; the tracker stays on the face).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np

from dmsd.commands.bench import FerStylePipeline, letterbox, load_frames
from dmsd.config import Config, DetectorConfig
from dmsd.publish.stats import percentiles
from dmsd.vision.detectors.haar import HaarConfig, HaarFaceDetector
from dmsd.vision.face_finder import DriverTracker, SearchEveryFrame

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "samples" / "incabin_belted_driver.mp4"
CROPS = ROOT.parent / "shared" / "data" / "seatbelt" / "person_crops"
TRACKER_SETTINGS = [
    dict(tracking=False),
    dict(),
    dict(track_margin=0.2),
    dict(track_margin=0.5),
    dict(scan_slices=4),
    dict(scan_slices=12),
    dict(min_neighbors=4),
    dict(detect_width=240),
]
STILL_SETTINGS = [
    dict(),
    dict(min_neighbors=4),
    dict(min_neighbors=5),
    dict(min_face=0.12),
    dict(min_face=0.08),
    dict(scale_factor=1.05),
    dict(scale_factor=1.2),
    dict(equalize=False),
]


def clip_frames() -> list[np.ndarray]:
    return load_frames(Config(), str(CLIP), None, None)[0]


def face_stage(settings: dict):
    haar_keys = {f.name for f in dataclasses.fields(HaarConfig)}  # detector.haar's own keys
    haar = {k: v for k, v in settings.items() if k in haar_keys}
    generic = {k: v for k, v in settings.items() if k not in haar_keys}
    config = DetectorConfig(**generic, plugins={"haar": haar})
    detector = HaarFaceDetector(config)
    return DriverTracker(detector, config) if config.tracking else SearchEveryFrame(detector)


def tune_clip(frames: list[np.ndarray], passes: int = 3) -> list[dict]:
    greys = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    stages = [face_stage(s) for s in TRACKER_SETTINGS]
    fer = FerStylePipeline(Config())
    times: list[list[float]] = [[] for _ in stages] + [[]]
    hits = [0] * (len(stages) + 1)
    for run in range(passes + 1):  # the first pass warms up and counts faces; the rest are timed
        for i, stage in enumerate(stages + [None]):
            for frame, grey in zip(frames, greys, strict=True):
                started = time.perf_counter()
                found = bool(fer.faces(frame)[1]) if stage is None else stage.find(grey) is not None
                if run:
                    times[i].append((time.perf_counter() - started) * 1000)
                else:
                    hits[i] += found
    names = [json.dumps(s) if s else "default" for s in TRACKER_SETTINGS] + ["fer-style full search"]
    return [
        {"setting": n, "frames_with_face": h, **percentiles(t, 2, "_ms")}
        for n, h, t in zip(names, hits, times, strict=True)
    ]


def tune_stills() -> list[dict]:
    rows = list(csv.DictReader((CROPS / "labels.csv").open()))
    greys = [cv2.imread(str(CROPS / r["path"]), cv2.IMREAD_GRAYSCALE) for r in rows]
    fer = FerStylePipeline(Config())
    result = []
    for settings in STILL_SETTINGS + [None]:
        started = time.perf_counter()
        if settings is None:
            found = sum(bool(fer.faces(g)[1]) for g in greys)
        else:
            stage = SearchEveryFrame(HaarFaceDetector(DetectorConfig(**settings)))
            found = sum(stage.find(g) is not None for g in greys)
        result.append(
            {
                "setting": "fer-style full search"
                if settings is None
                else json.dumps(settings)
                if settings
                else "default",
                "images_with_face": found,
                "images": len(greys),
                "mean_ms": round((time.perf_counter() - started) / len(greys) * 1000, 2),
            }
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frames = clip_frames()
    report = {
        "clip": {
            f"{w}x{h}": tune_clip([letterbox(f, (w, h)) for f in frames] if (w, h) != (450, 336) else frames)
            for w, h in ((450, 336), (640, 480), (1280, 720))
        },
        "person_crops": tune_stills(),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for size, rows in report["clip"].items():
        print(f"clip at {size} ({len(frames)} frames)")
        for r in rows:
            print(
                f"  {r['setting']:32} faces {r['frames_with_face']:4}  p50 {r['p50_ms']:6.2f} ms  "
                f"p99 {r['p99_ms']:6.2f} ms"
            )
    print("person_crops (stills, full search)")
    for r in report["person_crops"]:
        print(f"  {r['setting']:32} faces {r['images_with_face']:4}/{r['images']}  {r['mean_ms']:6.2f} ms/image")


if __name__ == "__main__":
    main()
