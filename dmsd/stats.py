"""Per-stage latency percentiles and frame rate, over a rolling window."""

from __future__ import annotations

import collections
import time

import numpy as np


class PipelineStats:
    def __init__(self, window: int = 1000):
        self.latency: dict[str, collections.deque] = collections.defaultdict(lambda: collections.deque(maxlen=window))
        self.frames = 0
        self.frames_with_face = 0
        self.started = time.monotonic()
        self._window_start = time.monotonic()
        self._window_frames = 0

    def add(self, latency_ms: dict[str, float], face: bool) -> None:
        self.frames += 1
        self._window_frames += 1
        self.frames_with_face += face
        for stage, ms in latency_ms.items():
            self.latency[stage].append(ms)

    def percentiles(self) -> dict[str, dict[str, float]]:
        return {stage: {"p50": round(float(np.percentile(v, 50)), 3), "p99": round(float(np.percentile(v, 99)), 3)}
                for stage, v in self.latency.items() if v}

    def snapshot(self) -> dict:
        """Frames per second since the last snapshot, and latency percentiles over the window."""
        now = time.monotonic()
        elapsed = now - self._window_start
        fps = self._window_frames / elapsed if elapsed > 0 else 0.0
        self._window_start, self._window_frames = now, 0
        return {"fps": round(fps, 2), "frames": self.frames, "frames_with_face": self.frames_with_face,
                "latency_ms": self.percentiles(), "uptime_s": round(now - self.started, 1)}
