"""Measure what the README quotes for the runtime: cold start of `dmsd --once`, the daemon's RSS and its
frame rate on the bundled clip. Every figure is a median over repeated runs in this one invocation.

    .venv/bin/python -m scripts.measure_runtime [--runs 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from dmsd.offline.timing import machine

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "samples" / "incabin_belted_driver.mp4"
STILL = ROOT / "samples" / "cabin_frame060.jpg"
DMSD = [sys.executable, "-m", "dmsd"]


def cold_start(runs: int, config: list[str]) -> dict:
    """Wall time and peak RSS of a whole `dmsd --once image.jpg` process, from exec to exit."""
    walls, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(DMSD + config + ["--once", str(STILL)], stdout=subprocess.DEVNULL, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        walls.append(time.perf_counter() - started)
        peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
        assert os.waitstatus_to_exitcode(status) == 0
    return {
        "wall_s": round(statistics.median(walls), 3),
        "peak_rss_mb": round(statistics.median(peaks), 1),
        "runs": runs,
    }


def rss_mb(pid: int) -> float | None:
    """Resident memory of a running process in MB; None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def daemon_run(realtime: bool, config: list[str]) -> dict:
    """The daemon over the clip: wall time, frames per second, and RSS sampled while it runs."""
    args = DMSD + config + ["--source", str(CLIP), "--no-mqtt", "--print", "--log-level", "WARNING"]
    if realtime:
        args.append("--realtime")
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    samples: list[float] = []

    def sample():
        while process.poll() is None:
            value = rss_mb(process.pid)
            if value is None:
                break
            samples.append(value)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, _ = process.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    lines = [json.loads(line) for line in stdout.splitlines()]
    stats = [line["payload"] for line in lines if line["topic"].endswith("/stats")][-1]
    steady = samples[len(samples) // 2 :] or samples  # after start-up
    return {
        "frames": stats["frames"],
        "frames_with_face": stats["frames_with_face"],
        "wall_s": round(wall, 2),
        "latency_ms": stats["latency_ms"],
        "steady_rss_mb": round(statistics.median(steady), 1) if steady else None,
        "max_rss_mb": round(max(samples), 1) if samples else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--config", metavar="PATH", help="run dmsd with this configuration (e.g. phone.enabled)")
    args = parser.parse_args()
    config = ["--config", str(Path(args.config).resolve())] if args.config else []
    fast = [daemon_run(realtime=False, config=config) for _ in range(3)]
    frame_ms = statistics.median(f["latency_ms"]["total"]["p50"] for f in fast)
    result = {
        "machine": machine(),
        "config": args.config,
        "cold_start_once": cold_start(args.runs, config),
        "clip_as_fast_as_possible": {
            "frames": fast[0]["frames"],
            "frames_with_face": fast[0]["frames_with_face"],
            "fps_whole_process": round(statistics.median(f["frames"] / f["wall_s"] for f in fast), 1),
            "pipeline_p50_ms": round(frame_ms, 2),
            "pipeline_fps": round(1000 / frame_ms, 1),
            "latency_ms": fast[len(fast) // 2]["latency_ms"],
        },
        "clip_realtime": daemon_run(realtime=True, config=config),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
