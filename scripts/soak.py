"""Soak test: the real daemon over the bundled clip looped for many frames, watching its memory and frame time.

    .venv/bin/python -m scripts.soak [--frames 100000] [--mqtt HOST:PORT] [--json]

It runs `dmsd --source CLIP --loop --max-frames N --print` (and publishes to a broker with --mqtt), samples the
process's RSS every second, and reads the daemon's own stats lines (per-stage p50/p99 over its last 1000
frames). Growth is measured from the end of warm-up (the first 5% of frames) to the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from scripts.measure_runtime import rss_mb

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "samples" / "incabin_belted_driver.mp4"


def soak(frames: int, mqtt: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text((ROOT / "config.yaml").read_text().replace("stats_interval_s: 10", "stats_interval_s: 2"))
        args = [
            sys.executable,
            "-m",
            "dmsd",
            "--config",
            str(config),
            "--source",
            str(CLIP),
            "--loop",
            "--max-frames",
            str(frames),
            "--print",
            "--log-level",
            "WARNING",
        ]
        args += ["--mqtt", mqtt] if mqtt else ["--no-mqtt"]
        started = time.monotonic()
        daemon = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)

        def sample():
            while daemon.poll() is None:
                value = rss_mb(daemon.pid)
                if value:
                    samples.append((time.monotonic() - started, value))
                time.sleep(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stats = []
        for line in daemon.stdout:
            record = json.loads(line)
            if record["topic"].endswith("/stats"):
                stats.append({**record["payload"], "t": time.monotonic() - started})
        daemon.wait()
        sampler.join()
    if daemon.returncode != 0:
        raise SystemExit(f"soak: dmsd exited with {daemon.returncode}")
    wall = time.monotonic() - started
    warm = [s for s in stats if s["frames"] >= 0.05 * frames and s["frames"] < frames]
    first, last = warm[0], warm[-1]
    warm_t = first["t"]
    steady = [mb for t, mb in samples if t >= warm_t]
    head = steady[: max(1, len(steady) // 20)]
    tail = steady[-max(1, len(steady) // 20) :]

    def total(stats: dict) -> dict:
        return stats["latency_ms"]["total"]

    p50s = [total(s)["p50"] for s in warm]
    tenth = max(1, len(p50s) // 10)
    slope = np.polyfit([s["frames"] for s in warm], p50s, 1)[0]
    return {
        "frames": stats[-1]["frames"],
        "frames_with_face": stats[-1]["frames_with_face"],
        "wall_s": round(wall, 1),
        "fps": round(stats[-1]["frames"] / wall, 1),
        "rss_mb": {
            "after_warmup": round(statistics.median(head), 1),
            "end": round(statistics.median(tail), 1),
            "max": round(max(steady), 1),
            "growth": round(statistics.median(tail) - statistics.median(head), 1),
        },
        # One window's p50 swings with the shared machine; a rise shows as a trend, so the first and last tenth
        # of the windows are compared, and a line is fitted through all of them.
        "frame_ms": {
            "p50_first_tenth": round(statistics.median(p50s[:tenth]), 3),
            "p50_last_tenth": round(statistics.median(p50s[-tenth:]), 3),
            "p50_range": [min(p50s), max(p50s)],
            "p50_trend_ms_per_100k_frames": round(float(slope) * 100_000, 3),
            "p99_first": total(first)["p99"],
            "p99_last": total(last)["p99"],
        },
        "p50_by_window": [total(s)["p50"] for s in warm],
        "rss_by_window": [round(mb, 1) for t, mb in samples[:: max(1, len(samples) // 20)]],
        "events_dropped": stats[-1].get("events_dropped", 0),
        "mqtt": mqtt,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--mqtt", metavar="HOST:PORT", help="also publish to this broker")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = soak(args.frames, args.mqtt)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['frames']} frames in {result['wall_s']} s ({result['fps']} frames/s), "
        f"face in {result['frames_with_face']}"
    )
    rss, ms = result["rss_mb"], result["frame_ms"]
    print(
        f"RSS after warm-up {rss['after_warmup']} MB, at the end {rss['end']} MB (growth {rss['growth']} MB, "
        f"max {rss['max']} MB)"
    )
    print(
        f"frame time p50 {ms['p50_first_tenth']} ms over the first tenth, {ms['p50_last_tenth']} ms over the "
        f"last (range {ms['p50_range'][0]}-{ms['p50_range'][1]}, trend {ms['p50_trend_ms_per_100k_frames']:+} ms "
        f"per 100k frames)"
    )


if __name__ == "__main__":
    main()
