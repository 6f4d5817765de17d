"""The daemon: frames in, driver state and events out, until the source ends or a signal says stop.

    FrameSource -> Analyzer (stages: face, emotion, ...) -> DriverStateTracker -> AlertGate -> publishers
                                                                                  ^ vehicle data (MQTT)

`run` opens everything, loops (read -> analyze -> track -> publish -> watchdog), then closes, publishing the
final state, stats and `offline` on the way out.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from dmsd import __version__
from dmsd.config import Config
from dmsd.driver.events import Event, EventNumbering
from dmsd.driver.state import DriverStateTracker
from dmsd.driver.vehicle import AlertGate, VehicleInbox
from dmsd.frames.sources import EndOfSource, Frame, FrameSource, make_source
from dmsd.publish.notify import SystemdNotifier
from dmsd.publish.payloads import event_payload, state_payload
from dmsd.publish.publisher import Publisher, make_publishers
from dmsd.publish.stats import PipelineStats
from dmsd.publish.subscriptions import Subscriptions
from dmsd.vision.analyzer import Analyzer

if TYPE_CHECKING:
    from dmsd.publish.preview import PreviewServer

log = logging.getLogger(__name__)
READ_TIMEOUT_S = 0.25  # how long the loop waits for a live frame before it checks the time and the watchdog


@dataclass
class RunOptions:
    print_lines: bool = False
    max_frames: int | None = None


def run(config: Config, options: RunOptions) -> int:
    daemon = Daemon(config, options)
    daemon.start()
    try:
        daemon.loop()
    finally:
        daemon.close()
    if daemon.source.stuck:
        # A capture thread is blocked inside a camera driver: the interpreter's teardown would abort on it.
        # Everything is published and closed; leave now.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    return 0


class Daemon:
    def __init__(self, config: Config, options: RunOptions):
        self.config, self.options = config, options
        self.analyzer = Analyzer.from_config(config)
        self.source: FrameSource = make_source(config.source)
        self.source.open()  # a finite source that cannot be read raises DmsdError here; a camera retries on its own
        self.vehicle = VehicleInbox()
        inbound = Subscriptions()  # what dmsd receives: the vehicle's speed and gear
        if config.vehicle.enabled:
            inbound.add(f"{config.topic_prefix}/vehicle", self.vehicle.receive)
        self.publishers: list[Publisher] = make_publishers(config, options.print_lines, inbound)
        self.preview: PreviewServer | None = None
        if config.preview.enabled:
            from dmsd.publish.preview import PreviewServer

            self.preview = PreviewServer(config.preview, self.analyzer, config.eyes)
            self.publishers.append(self.preview)
        self.notifier = SystemdNotifier()
        self.tracker = DriverStateTracker(config.state, config.alertness, config.phone, config.eyes)
        self.gate = AlertGate(config.vehicle, self.vehicle)
        self.numbering = EventNumbering()
        self.stats = PipelineStats()
        self.stop = threading.Event()
        self._published_key: tuple | None = None
        self._state_at = self._stats_at = time.monotonic()

    def start(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for publisher in self.publishers:
            publisher.start()
        uri = self.config.source.uri
        models = ", ".join(f"{key} {path}" for key, path in self.analyzer.models().items())
        log.info("dmsd %s: source %s, models: %s", __version__, uri, models)
        if self.source.delivering:
            self.notifier.ready(f"running on {uri}")
        else:
            # Ready all the same: systemd would otherwise kill and restart us in a loop while the camera is
            # unplugged; we keep reopening it and report camera_lost meanwhile.
            log.warning("source %s: no frames yet, reopening in the background", uri)
            self.notifier.ready(f"waiting for {uri}: no frames yet, retrying")

    def loop(self) -> None:
        while not self.stop.is_set():
            try:
                frame = self.source.read(timeout=READ_TIMEOUT_S)
            except EndOfSource:
                log.info("source %s ended after %d frames", self.config.source.uri, self.stats.frames)
                return
            self.publish(self.observe(frame))
            self.notifier.watchdog()
            if self.options.max_frames is not None and self.stats.frames >= self.options.max_frames:
                log.info("stopping after %d frames (--max-frames)", self.stats.frames)
                return

    def observe(self, frame: Frame | None) -> list[Event]:
        """Analyze the frame, if one came, and track the driver: the events this brings, less the alerts the
        vehicle's speed and gear hold back."""
        now = frame.ts if frame is not None else time.time()
        events = self.tracker.camera(self.source.healthy, now)
        if frame is not None:
            result = self.analyzer.analyze(frame.image, frame.name, frame.ts)
            self.stats.add(result.latency_ms, result.face is not None)
            if self.preview is not None:
                self.preview.frame(frame.image, result)  # by reference: drawn only if someone watches
            events += self.tracker.update(result)
        elif self.source.healthy:
            events += self.tracker.tick(now)  # a slow camera: time passes all the same
        return self.gate.filter(events, now)

    def publish(self, events: list[Event]) -> None:
        """Events at once; the state when it changes or the heartbeat is due; stats at their interval."""
        for event in events:
            payload = event_payload(event, self.numbering.next(), self.numbering.run)
            for publisher in self.publishers:  # MQTT's outbox first
                publisher.event(payload)
            log.info("event %s: %s -> %s", event.type, event.before, event.after)
        clock = time.monotonic()
        key = (self.tracker.state.key(), self.gate.key())
        if key != self._published_key or clock - self._state_at >= self.config.state.heartbeat_s:
            self.publish_state()
            self._published_key, self._state_at = key, clock
        if clock - self._stats_at >= self.config.mqtt.stats_interval_s:
            self.publish_stats()
            self._stats_at = clock

    def publish_state(self) -> None:
        payload = state_payload(self.tracker.state, self.config.state.include_probs, self.gate.block())
        for publisher in self.publishers:
            publisher.state(payload)

    def publish_stats(self) -> None:
        payload = self.stats.payload(self.source.dropped, self.publishers)
        for publisher in self.publishers:
            publisher.stats(payload)

    def close(self) -> None:
        self.notifier.stopping()
        self.source.close()
        self.publish_state()
        self.publish_stats()
        for publisher in self.publishers:
            publisher.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop.set()
