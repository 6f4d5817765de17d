"""The daemon: frames in, driver state and events out, until the source ends or a signal says stop.

    source -> Analyzer (face, emotion, seatbelt) -> DriverStateTracker -> publishers (MQTT, --print)
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

from dmsd import __version__
from dmsd.config import Config
from dmsd.notify import SystemdNotifier
from dmsd.pipeline import Analyzer
from dmsd.sources import EndOfSource, make_source
from dmsd.state import DriverStateTracker
from dmsd.stats import PipelineStats

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    print_lines: bool = False
    max_frames: int | None = None


def run(config: Config, options: RunOptions) -> int:
    analyzer = Analyzer.from_config(config)
    source = make_source(config.source)
    source.open()  # a finite source that cannot be read raises DmsdError here; a camera retries on its own
    publishers = make_publishers(config, options)
    notifier = SystemdNotifier()
    tracker = DriverStateTracker(config.state)
    stats = PipelineStats()
    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for publisher in publishers:
        publisher.start()
    log.info("dmsd %s: source %s, emotion model %s, seatbelt model %s", __version__, config.source.uri,
             analyzer.emotion.path, analyzer.seatbelt.path)
    if source.delivering:
        notifier.ready(f"running on {config.source.uri}")
    else:
        # Ready all the same: systemd would otherwise kill and restart us in a loop while the camera is
        # unplugged; we keep reopening it and report camera_lost meanwhile.
        log.warning("source %s: no frames yet, reopening in the background", config.source.uri)
        notifier.ready(f"waiting for {config.source.uri}: no frames yet, retrying")

    include_probs = config.state.include_probs
    sequence = 0  # events are numbered so a consumer can drop QoS 1 redeliveries
    last_key = None
    last_state_at = last_stats_at = time.monotonic()

    def publish_state() -> None:
        payload = tracker.state.to_dict(include_probs)
        for publisher in publishers:
            publisher.state(payload)

    def publish_stats() -> None:
        payload = {**stats.snapshot(), "dropped_frames": source.dropped, "version": __version__, "ts": round(time.time(), 3),
                   "events_queued": sum(getattr(p, "queued_events", 0) for p in publishers),
                   "events_dropped": sum(getattr(p, "dropped_events", 0) for p in publishers)}
        for publisher in publishers:
            publisher.stats(payload)

    try:
        while not stop.is_set():
            try:
                frame = source.read(timeout=0.25)
            except EndOfSource:
                log.info("source %s ended after %d frames", config.source.uri, stats.frames)
                break
            now = frame.ts if frame is not None else time.time()
            events = tracker.camera(source.healthy, now)
            if frame is not None:
                result = analyzer.analyze(frame.image, frame.name, frame.ts)
                stats.add(result.latency_ms, result.face is not None)
                events += tracker.update(result)
            elif source.healthy:
                events += tracker.tick(now)
            for event in events:
                sequence += 1
                log.info("event %s: %s -> %s", event.type, event.before, event.after)
                payload = {**event.to_dict(), "seq": sequence}
                for publisher in publishers:
                    publisher.event(payload)
            clock = time.monotonic()
            key = tracker.state.key()
            if key != last_key or clock - last_state_at >= config.state.heartbeat_s:
                publish_state()
                last_key, last_state_at = key, clock
            if clock - last_stats_at >= config.mqtt.stats_interval_s:
                publish_stats()
                last_stats_at = clock
            notifier.watchdog()
            if options.max_frames is not None and stats.frames >= options.max_frames:
                log.info("stopping after %d frames (--max-frames)", stats.frames)
                break
    finally:
        notifier.stopping()
        source.close()
        publish_state()
        publish_stats()
        for publisher in publishers:
            publisher.close()
    if source.stuck:
        # A capture thread is blocked inside a camera driver: the interpreter's teardown would abort on it.
        # Everything is published and closed; leave now.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    return 0


def make_publishers(config: Config, options: RunOptions) -> list:
    publishers = []
    if options.print_lines:
        from dmsd.printer import JsonLinesPrinter

        publishers.append(JsonLinesPrinter(config.topic_prefix))
    if config.mqtt.enabled:
        from dmsd.mqtt import MqttPublisher

        publishers.append(MqttPublisher(config.mqtt, config.topic_prefix, f"dmsd-{config.device}"))
    return publishers
