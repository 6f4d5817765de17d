"""Frame sources: where frames come from, and what happens when they stop coming.

Finite sources (a video file, a directory of images) are read frame by frame, none dropped, as fast as the
caller asks or, with `realtime`, at the file's own rate; with `loop`, from the top again at the end. Live
sources (camera index, /dev/videoN, rtsp://, http(s)://) are captured on their own thread so inference always
takes the newest frame: frames the caller did not take in time are dropped and counted. A live source that yields
nothing for `stall_timeout_s` is unhealthy; its capture is abandoned and reopened with exponential backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from dmsd.config import SourceConfig
from dmsd.errors import DmsdError
from dmsd.frames.images import list_images, read_image

log = logging.getLogger(__name__)
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR
    ts: float  # seconds since the epoch; for files, the start time plus the frame's position in the file
    index: int
    name: str  # what produced it: a file name, or the source and frame number


class EndOfSource(Exception):
    """A finite source has no more frames."""


class FrameSource(ABC):
    live = False
    dropped = 0
    stuck = False  # after close(): a capture call that never returned (live sources)

    def __init__(self, uri: str, config: SourceConfig):
        self.uri, self.config = uri, config

    @abstractmethod
    def open(self) -> None:
        """Open the source; finite sources raise DmsdError when they cannot be read at all."""

    @abstractmethod
    def read(self, timeout: float) -> Frame | None:
        """The next frame, None if none came within `timeout`; raises EndOfSource when a finite source ends."""

    @property
    def healthy(self) -> bool:
        return True

    @property
    def delivering(self) -> bool:
        """Whether frames have come since open() (a camera may still be absent; it keeps retrying)."""
        return True

    def close(self) -> None:  # noqa: B027 (optional: a source that holds nothing has nothing to release)
        pass


class VideoFileSource(FrameSource):
    def open(self) -> None:
        self.capture = cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG)
        if not self.capture.isOpened():
            raise DmsdError(f"source {self.uri}: cannot open as a video file")
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 0.0
        self.index = 0
        self.started = time.time()
        self.started_monotonic = time.monotonic()

    def read(self, timeout: float) -> Frame:
        ok, image = self.capture.read()
        if not ok and self.index > 0 and self.config.loop:
            self.capture.release()  # from the top; frame numbers and times go on
            self.capture = cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG)
            ok, image = self.capture.read()
        if not ok:
            if self.index == 0:
                raise DmsdError(f"source {self.uri}: no frames could be decoded")
            raise EndOfSource
        offset = self.index / self.fps if self.fps > 0 else self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        if self.config.realtime:
            delay = offset - (time.monotonic() - self.started_monotonic)
            if delay > 0:
                time.sleep(delay)
        frame = Frame(image, self.started + offset, self.index, f"{Path(self.uri).name}#{self.index}")
        self.index += 1
        return frame

    def close(self) -> None:
        self.capture.release()


class DirectorySource(FrameSource):
    """Images in name order; an unreadable one is logged, counted and skipped, and the count said at the end."""

    def open(self) -> None:
        self.files = list_images(Path(self.uri))
        self.position = 0
        self.index = 0
        self.started = time.time()
        self.unreadable = 0
        self.interval = 1.0 / (self.config.fps or 1.0)

    def read(self, timeout: float) -> Frame:
        if self.position >= len(self.files) and self.index > 0 and self.config.loop:
            self.position = 0
        while self.position < len(self.files):
            path = self.files[self.position]
            self.position += 1
            try:
                image = read_image(path)
            except DmsdError as exc:
                self.unreadable += 1
                log.warning("skipping %s", exc)
                continue
            ts = self.started + self.index * self.interval
            if self.config.realtime:
                time.sleep(max(0.0, ts - time.time()))
            frame = Frame(image, ts, self.index, path.name)
            self.index += 1
            return frame
        if self.index == 0:
            raise DmsdError(f"source {self.uri}: none of its {len(self.files)} images could be read")
        if self.unreadable:
            log.warning("source %s: %d unreadable image(s) skipped in all", self.uri, self.unreadable)
        raise EndOfSource


class LiveSource(FrameSource):
    """A camera or stream, captured on a background thread that always keeps just the newest frame."""

    live = True

    def open(self) -> None:
        self._lock = threading.Condition()
        self._latest: Frame | None = None
        self._taken = -1  # index of the last frame handed out
        self._index = 0
        self._last_frame_at = time.monotonic()
        self._generation = 0
        self._closed = False
        self._ever_opened = threading.Event()
        self._threads: list[threading.Thread] = []
        self.dropped = 0
        self._start_capture()
        # Give the device a moment so a working camera counts as open before the daemon says READY.
        self._ever_opened.wait(self.config.stall_timeout_s)

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._last_frame_at < self.config.stall_timeout_s

    @property
    def delivering(self) -> bool:
        return self._ever_opened.is_set()

    def read(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._latest is None or self._latest.index <= self._taken:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    self._check_stall()
                    return None
                self._lock.wait(remaining)
            self._taken = self._latest.index
            return self._latest

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._generation += 1
            self._lock.notify_all()
        # Wait for the capture threads to leave OpenCV: a thread still inside a cv2 call when Python exits is
        # torn down mid-C++ and aborts the process ("FATAL: exception not rethrown"). A read returns within the
        # stream's read timeout; a driver stuck for longer is left, and said.
        deadline = time.monotonic() + self.config.stall_timeout_s + 1.0
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.stuck = any(thread.is_alive() for thread in self._threads)
        if self.stuck:
            log.warning("source %s: a capture call has not returned; exiting without waiting for it", self.uri)

    def _check_stall(self) -> None:
        """Called with the lock held: replace a capture thread stuck inside a cv2 call.

        cv2's open() and read() can block inside a driver. The thread stamps `_alive_at` after every call;
        when that stops for twice the stall timeout, a fresh capture starts and the old thread exits
        whenever its call returns (its frames are ignored by generation).
        """
        stuck_for = time.monotonic() - self._alive_at
        if stuck_for > 2 * self.config.stall_timeout_s + 1:
            log.warning("source %s: capture stuck for %.1f s, starting a new one", self.uri, stuck_for)
            self._start_capture()

    def _start_capture(self) -> None:
        self._generation += 1
        self._alive_at = time.monotonic()
        thread = threading.Thread(target=self._capture_loop, args=(self._generation,), name="capture", daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _open_capture(self) -> cv2.VideoCapture | None:
        timeout_ms = int(self.config.stall_timeout_s * 1000)
        if self.uri.isdigit():
            capture = cv2.VideoCapture(int(self.uri))
        elif self.uri.startswith("/dev/"):
            capture = cv2.VideoCapture(self.uri, cv2.CAP_V4L2)
        else:
            capture = cv2.VideoCapture(
                self.uri,
                cv2.CAP_FFMPEG,
                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
            )
        if not capture.isOpened():
            capture.release()
            return None
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, self.config.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, self.config.height),
            (cv2.CAP_PROP_FPS, self.config.fps),
        ):
            if value:
                capture.set(prop, value)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver's queue short: we want the newest frame
        return capture

    def _capture_loop(self, generation: int) -> None:
        backoff = self.config.reopen_min_s
        while self._generation == generation:
            capture = self._open_capture()
            self._alive_at = time.monotonic()
            if capture is None:
                log.warning("source %s: cannot open, retrying in %.1f s", self.uri, backoff)
                self._sleep(backoff, generation)
                backoff = min(backoff * 2, self.config.reopen_max_s)
                continue
            log.info("source %s: open", self.uri)
            try:
                while self._generation == generation:
                    ok, image = capture.read()
                    self._alive_at = time.monotonic()
                    if not ok:
                        log.warning("source %s: read failed, reopening in %.1f s", self.uri, backoff)
                        break
                    self._publish(image, generation)
                    self._ever_opened.set()
                    backoff = self.config.reopen_min_s
            finally:
                capture.release()
            self._sleep(backoff, generation)
            backoff = min(backoff * 2, self.config.reopen_max_s)

    def _publish(self, image: np.ndarray, generation: int) -> None:
        with self._lock:
            if self._generation != generation:
                return
            if self._latest is not None and self._latest.index > self._taken:
                self.dropped += 1
            self._latest = Frame(image, time.time(), self._index, f"{self.uri}#{self._index}")
            self._index += 1
            self._last_frame_at = time.monotonic()
            self._lock.notify_all()

    def _sleep(self, seconds: float, generation: int) -> None:
        end = time.monotonic() + seconds
        while self._generation == generation and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
            self._alive_at = time.monotonic()


def count_frames(path: Path | str) -> tuple[int, float]:
    """The frames of a video file that decode, and its frame rate: read through, never sought (many files' headers
    overstate their length). A file OpenCV cannot read is a one-line DmsdError."""
    capture = cv2.VideoCapture(str(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
        frames = 0
        while capture.grab():
            frames += 1
    finally:
        capture.release()
    if frames == 0 or fps <= 0:
        raise DmsdError(f"{path} is not a video OpenCV can read")
    return frames, fps


def file_frames(config: SourceConfig, path: Path | str) -> Iterator[Frame]:
    """Every frame of a video file, as fast as it decodes (no pacing, no loop), timed as the daemon times a file's
    frames: for the evaluators, which play a recording through the daemon's own pipeline."""
    source = VideoFileSource(str(path), replace(config, uri=str(path), realtime=False, loop=False))
    source.open()
    try:
        while True:
            try:
                yield source.read(1.0)
            except EndOfSource:
                return
    finally:
        source.close()


def make_source(config: SourceConfig) -> FrameSource:
    """The source kind for a URI: camera index, /dev/ device, stream URL, image directory or video file."""
    uri = config.uri.strip()
    if uri.isdigit() or uri.startswith("/dev/") or uri.lower().startswith(STREAM_SCHEMES):
        return LiveSource(uri, config)
    path = Path(uri)
    if path.is_dir():
        return DirectorySource(uri, config)
    if path.is_file():
        return VideoFileSource(uri, config)
    raise DmsdError(
        f"source {uri}: no such file or directory (source.uri takes a camera index, /dev/videoN, "
        "a video file, an rtsp:// or http(s):// URL, or a directory of images)"
    )
