"""A real MJPEG-over-HTTP camera for the tests: serves a JPEG at a fixed rate; can pause, die and come back."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2


class MjpegCamera:
    def __init__(self, image_path, fps: float = 10.0, port: int = 0):
        self.jpeg = cv2.imencode(".jpg", cv2.imread(str(image_path)))[1].tobytes()
        self.fps, self.paused, self.frames_sent = fps, False, 0
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> "MjpegCamera":
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while camera.server is not None and self.server is camera.server:
                        if not camera.paused:
                            self.wfile.write(
                                b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(camera.jpeg)
                                + camera.jpeg
                                + b"\r\n"
                            )
                            camera.frames_sent += 1
                        time.sleep(1 / camera.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """The camera disappears: the listening socket closes and open streams end."""
        server, self.server = self.server, None
        if server:
            server.shutdown()
            server.server_close()
