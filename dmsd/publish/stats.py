"""The `stats` message: frame rate, per-stage latency percentiles over a rolling window, and the counters an
integrator watches (frames with a face, frames dropped by a camera, events queued and dropped).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable, Sequence

import numpy as np

from dmsd import __version__


def percentiles(values: Sequence[float], digits: int = 3, suffix: str = "") -> dict[str, float]:
    """p50 and p99 of `values`, rounded; keys `p50<suffix>`, `p99<suffix>` (the stats payload's are bare, `dmsd
    bench`'s end in `_ms`)."""
    return {
        f"p50{suffix}": round(float(np.percentile(values, 50)), digits),
        f"p99{suffix}": round(float(np.percentile(values, 99)), digits),
    }


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

    def payload(self, dropped_frames: int, publishers: Iterable) -> dict:
        """The stats message: frames per second since the last one, latency percentiles over the window, counters.

        publishers: each one's `queued_events` and `dropped_events` (dmsd.publish.publisher.Publisher) are summed.
        """
        now = time.monotonic()
        elapsed = now - self._window_start
        fps = self._window_frames / elapsed if elapsed > 0 else 0.0
        self._window_start, self._window_frames = now, 0
        publishers = list(publishers)
        return {
            "fps": round(fps, 2),
            "frames": self.frames,
            "frames_with_face": self.frames_with_face,
            "latency_ms": {stage: percentiles(v) for stage, v in self.latency.items() if v},
            "uptime_s": round(now - self.started, 1),
            "dropped_frames": dropped_frames,
            "version": __version__,
            "ts": round(time.time(), 3),
            "events_queued": sum(p.queued_events for p in publishers),
            "events_dropped": sum(p.dropped_events for p in publishers),
        }
