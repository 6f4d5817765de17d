"""What the preview page costs the analysis: the daemon on the bundled clip (600 frames, as fast as it reads, pinned
to one core) with the preview off, on with no one watching, and on with one viewer reading the picture; the three
alternate, `--runs` rounds, medians reported. The README quotes it.

    .venv/bin/python -m scripts.preview_cost [--runs 3] [--core 1]
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
import urllib.request
from pathlib import Path

from dmsd.offline.timing import machine
from harness import CLIP, ROOT, free_port

FRAMES = 600


def viewer(url: str, stop: threading.Event, got: list[int]) -> None:
    """Reads the MJPEG stream until told to stop, counting bytes."""
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as stream:
                while not stop.is_set():
                    chunk = stream.read1(65536)
                    if not chunk:
                        return
                    got[0] += len(chunk)
        except OSError:
            time.sleep(0.05)  # not serving yet, or gone


def run(mode: str, core: int, folder: Path) -> dict:
    port = free_port()
    config = folder / f"{mode}.yaml"
    on = mode != "off"
    config.write_text(f"preview:\n  enabled: {str(on).lower()}\n  listen: 127.0.0.1:{port}\nmqtt:\n  enabled: false\n")
    args = ["taskset", "-c", str(core), sys.executable, "-m", "dmsd", "--config", str(config), "--source", str(CLIP)]
    args += ["--loop", "--max-frames", str(FRAMES), "--print", "--log-level", "WARNING"]
    stop, got = threading.Event(), [0]
    thread = threading.Thread(target=viewer, args=(f"http://127.0.0.1:{port}/stream.mjpg", stop, got), daemon=True)
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if mode == "viewer":
        thread.start()
    stdout, _ = process.communicate()
    wall = time.perf_counter() - started
    stop.set()
    lines = [json.loads(line) for line in stdout.splitlines()]
    stats = [line["payload"] for line in lines if line["topic"].endswith("/stats")][-1]
    return {
        "frames": stats["frames"],
        "fps_whole_process": stats["frames"] / wall,
        "frame_p50_ms": stats["latency_ms"]["total"]["p50"],
        "viewer_bytes": got[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--core", type=int, default=1, help="the core the daemon is pinned to")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"off": [], "on": [], "viewer": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for mode in results:
                results[mode].append(run(mode, args.core, Path(tmp)))
    summary = {
        mode: {
            "fps_whole_process": round(statistics.median(r["fps_whole_process"] for r in runs), 1),
            "frame_p50_ms": round(statistics.median(r["frame_p50_ms"] for r in runs), 2),
            "viewer_mb": round(statistics.median(r["viewer_bytes"] for r in runs) / 1e6, 2),
        }
        for mode, runs in results.items()
    }
    print(json.dumps({"machine": machine(), "frames": FRAMES, "runs": args.runs, **summary}, indent=2))


if __name__ == "__main__":
    main()
