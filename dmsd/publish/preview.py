"""The preview page: what dmsd sees, live, in a browser on the device, for fitting the camera.

A publisher like MQTT's (it receives the state, events and stats), and besides that the frames with their results.
The analysis only hands over a reference to its latest frame (`frame`); a thread of its own draws and encodes a
picture at most `preview.fps` times a second, and only while someone watches, so the preview costs the analysis
nothing when no one does. Each viewer gets the newest picture (never a queue that grows); at most
`preview.max_viewers` at once. Off the loopback address viewers need the password (HTTP basic auth, user `dmsd`),
over HTTPS when a certificate is given. Pictures go to the page's viewers only: never to disk or MQTT.

    GET /             the page (everything it needs is served here: no internet)
    GET /stream.mjpg  the annotated picture, as an MJPEG stream
    GET /state.json   {"analysis": {"fps", "latency_ms", "ts", "tracking", "occupancy", "blendshapes"}, "state": ...,
                      "events": [the last ones, newest first], "stats": ..., "preview": {"viewers", "max_viewers",
                      "fps", "picture_size"}}

The state is published when it changes (and at its heartbeat); `analysis` is the newest frame's: its time (`ts`, on
the frame clock), its `tracking` block (which finder found the face, or since when and why there is none), so the
page can say how long the face has been lost without waiting for the next state, and its `occupancy` measure (while the
face is lost: how alike the driver's region still looks, for choosing `alertness.nodding_seat_similarity`).
"""

from __future__ import annotations

import base64
import collections
import hmac
import json
import logging
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import cv2
import numpy as np

from dmsd.config import LOOPBACK, EyesConfig, PreviewConfig
from dmsd.errors import DmsdError
from dmsd.publish.annotate import draw
from dmsd.publish.payloads import measure_json
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.blendshapes import FaceShapes
from dmsd.vision.results import FaceTrack, FrameResult
from dmsd.vision.stages.mesh import BLENDSHAPES
from dmsd.vision.stages.occupancy import OCCUPANCY, SeatOccupancy

log = logging.getLogger(__name__)
EVENTS_KEPT = 20
JPEG_QUALITY = 80
BOUNDARY = "dmsdframe"
USER = "dmsd"


class PreviewServer:
    """A Publisher (dmsd.publish.publisher) that serves the preview page."""

    def __init__(self, config: PreviewConfig, analyzer: Analyzer, eyes: EyesConfig | None = None):
        """eyes: the eye rule's config, for the eyes' verdict drawn on each frame."""
        self.config, self.analyzer, self.eyes = config, analyzer, eyes
        self.host, self.port = config.address()
        self._lock = threading.Condition()
        self._latest: tuple[np.ndarray, FrameResult] | None = None  # the analysis' newest frame, not yet drawn
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._jpeg_size: tuple[int, int] | None = None
        self._viewers = 0
        self._state: dict | None = None
        self._stats: dict | None = None
        self._events: collections.deque[dict] = collections.deque(maxlen=EVENTS_KEPT)
        self._arrivals: collections.deque[float] = collections.deque(maxlen=120)  # frames' arrival (monotonic)
        self._latency: dict[str, float] = {}  # the newest frame's per-stage latency
        self._frame_ts: float | None = None  # the newest frame's time and tracking block
        self._track: FaceTrack | None = None
        self._occupancy: SeatOccupancy | None = None
        self._shapes: FaceShapes | None = None
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- the Publisher interface ------------------------------------------------------------------------------
    @property
    def queued_events(self) -> int:
        return 0

    @property
    def dropped_events(self) -> int:
        return 0

    def start(self) -> None:
        """Bind and serve; DmsdError in one line when the address cannot be had."""
        handler = type("Handler", (PreviewHandler,), {"preview": self})
        try:
            server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:  # socket.gaierror for a host that does not resolve is one too
            raise DmsdError(
                f"preview.listen {self.config.listen}: cannot serve there ({exc.strerror or exc})"
            ) from None
        server.daemon_threads = True
        scheme = "http"
        if self.config.certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(self.config.certfile, self.config.keyfile)
            except (OSError, ssl.SSLError) as exc:
                server.server_close()
                raise DmsdError(f"preview.certfile {self.config.certfile}: cannot be used ({exc})") from None
            server.socket = context.wrap_socket(server.socket, server_side=True)
            scheme = "https"
        self._server = server
        self.port = server.server_address[1]  # the port given, or the one the system chose for port 0
        self._threads = [
            threading.Thread(target=server.serve_forever, name="preview-http", daemon=True),
            threading.Thread(target=self._encode_loop, name="preview-encoder", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        local = self.host in LOOPBACK
        log.info(
            "preview: serving %s://%s:%d/ %s",
            scheme,
            self.host,
            self.port,
            "on this device only" if local else f"to the network, password required (user {USER})",
        )

    def state(self, payload: dict) -> None:
        with self._lock:
            self._state = payload

    def event(self, payload: dict) -> None:
        with self._lock:
            self._events.appendleft(payload)

    def stats(self, payload: dict) -> None:
        with self._lock:
            self._stats = payload

    def close(self, timeout: float | None = None) -> None:
        self._closing.set()
        with self._lock:
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- frames -----------------------------------------------------------------------------------------------
    def frame(self, image: np.ndarray, result: FrameResult) -> None:
        """The analysis' newest frame and what it found: kept by reference, drawn later only if someone watches."""
        with self._lock:
            self._latest = (image, result)
            self._arrivals.append(time.monotonic())
            self._latency = result.latency_ms
            self._frame_ts = result.ts
            self._track = result.track  # frozen: its JSON is made when the page asks
            self._occupancy = result.get(OCCUPANCY)
            self._shapes = result.get(BLENDSHAPES)
            if self._viewers:
                self._lock.notify_all()

    def _encode_loop(self) -> None:
        period = 1.0 / self.config.fps
        while not self._closing.is_set():
            with self._lock:
                while not self._closing.is_set() and (self._latest is None or not self._viewers):
                    self._lock.wait(0.5)
                latest, self._latest = self._latest, None
            if latest is None:
                continue
            started = time.monotonic()
            picture = draw(latest[0], latest[1], self.analyzer, self.eyes)
            ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                with self._lock:
                    self._jpeg, self._jpeg_seq = encoded.tobytes(), self._jpeg_seq + 1
                    self._jpeg_size = (int(picture.shape[1]), int(picture.shape[0]))
                    self._lock.notify_all()
            self._closing.wait(max(0.0, period - (time.monotonic() - started)))

    def next_picture(self, seen: int, timeout: float) -> tuple[int, bytes] | None:
        """A picture newer than number `seen`, waiting up to `timeout`; None if none came (or closing)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._closing.is_set() and (self._jpeg is None or self._jpeg_seq == seen):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)
            if self._closing.is_set() or self._jpeg is None:
                return None
            return self._jpeg_seq, self._jpeg

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def admit(self) -> bool:
        """One more viewer of the picture, if there is room."""
        with self._lock:
            if self._viewers >= self.config.max_viewers:
                return False
            self._viewers += 1
            self._lock.notify_all()
            return True

    def leave(self) -> None:
        with self._lock:
            self._viewers -= 1

    def snapshot(self) -> dict:
        """The page's data: the state, the last events (newest first), the stats and the preview's own figures."""
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._arrivals if now - t <= 2.0]
            fps = (
                round((len(recent) - 1) / (recent[-1] - recent[0]), 1)
                if len(recent) > 1 and recent[-1] > recent[0]
                else None
            )
            return {
                "analysis": {
                    "fps": fps,
                    "latency_ms": {k: round(v, 2) for k, v in self._latency.items()},
                    "ts": None if self._frame_ts is None else round(self._frame_ts, 3),
                    "tracking": measure_json(self._track) if self._track is not None else None,
                    "occupancy": measure_json(self._occupancy) if self._occupancy is not None else None,
                    "blendshapes": measure_json(self._shapes) if self._shapes is not None else None,
                },
                "state": self._state,
                "events": list(self._events),
                "stats": self._stats,
                "preview": {
                    "viewers": self._viewers,
                    "max_viewers": self.config.max_viewers,
                    "fps": self.config.fps,
                    "picture_size": list(self._jpeg_size) if self._jpeg_size else None,
                },
            }

    def authorized(self, header: str | None) -> bool:
        if not self.config.password:
            return True
        expected = "Basic " + base64.b64encode(f"{USER}:{self.config.password}".encode()).decode()
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())


class PreviewHandler(BaseHTTPRequestHandler):
    preview: PreviewServer  # set on the subclass the server is made with
    server_version = "dmsd-preview"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if not self.preview.authorized(self.headers.get("Authorization")):
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", 'Basic realm="dmsd preview", charset="UTF-8"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", page())
        elif path == "/state.json":
            self._send(HTTPStatus.OK, "application/json", json.dumps(self.preview.snapshot()).encode())
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        if not self.preview.admit():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"too many viewers; try again later\n")
            return
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = 0
            while True:
                picture = self.preview.next_picture(seen, timeout=10.0)
                if picture is None:
                    if self.preview.closing:
                        return
                    continue  # no new frame for a while (a stalled camera): keep the viewer
                seen, jpeg = picture
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return  # the viewer went away
        finally:
            self.preview.leave()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        log.debug("preview: %s %s", self.address_string(), format % args)


def page() -> bytes:
    return resources.files("dmsd.publish").joinpath("preview.html").read_bytes()
