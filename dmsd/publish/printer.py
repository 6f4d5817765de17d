"""`--print`: what would go to MQTT, as JSON lines on stdout: {"topic": ..., "payload": ...}."""

from __future__ import annotations

import json
import sys
from typing import TextIO


class JsonLinesPrinter:
    """A Publisher (dmsd.publish.publisher) that writes at once: nothing is ever queued or dropped."""

    queued_events = 0
    dropped_events = 0

    def __init__(self, prefix: str, stream: TextIO | None = None):
        self.prefix, self.stream = prefix, stream or sys.stdout

    def _write(self, name: str, payload: dict | str) -> None:
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
