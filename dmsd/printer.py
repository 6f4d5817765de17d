"""`--print`: what would go to MQTT, as JSON lines on stdout: {"topic": ..., "payload": ...}."""

from __future__ import annotations

import json
import sys


class JsonLinesPrinter:
    def __init__(self, prefix: str, stream=None):
        self.prefix, self.stream = prefix, stream or sys.stdout

    def _write(self, name: str, payload) -> None:
        self.stream.write(json.dumps({"topic": f"{self.prefix}/{name}", "payload": payload}) + "\n")
        self.stream.flush()

    def start(self) -> None:
        self._write("availability", "online")

    def state(self, payload: dict) -> None:
        self._write("state", payload)

    def event(self, payload: dict) -> None:
        self._write("events", payload)

    def stats(self, payload: dict) -> None:
        self._write("stats", payload)

    def close(self, timeout: float | None = None) -> None:
        self._write("availability", "offline")
