"""The one interface every publisher implements, and the publishers a run's configuration asks for."""

from __future__ import annotations

from typing import Protocol

from dmsd.config import Config
from dmsd.publish.subscriptions import Subscriptions


class Publisher(Protocol):
    """Where the daemon's four kinds of message go: availability (start/close), state, events and stats.

    queued_events / dropped_events: events waiting for delivery, and events given up (oldest first, when the
    queue is full); both go into the stats payload.
    """

    @property
    def queued_events(self) -> int: ...

    @property
    def dropped_events(self) -> int: ...

    def start(self) -> None: ...

    def state(self, payload: dict) -> None: ...

    def event(self, payload: dict) -> None: ...

    def stats(self, payload: dict) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


def make_publishers(config: Config, print_lines: bool, subscriptions: Subscriptions | None = None) -> list[Publisher]:
    """MQTT when enabled (imported only then: paho is not needed otherwise), first, so an event is in its outbox
    before anything else happens to it; then `--print`'s JSON lines when asked.

    subscriptions: the topics to listen to on the broker, and their handlers (MQTT's thread calls them).
    """
    publishers: list[Publisher] = []
    if config.mqtt.enabled:
        from dmsd.publish.mqtt import MqttPublisher

        publishers.append(
            MqttPublisher(
                config.mqtt,
                config.topic_prefix,
                f"dmsd-{config.device}",
                config.device,
                config.homeassistant,
                subscriptions,
                phone=config.phone.enabled,
            )
        )
    if print_lines:
        from dmsd.publish.printer import JsonLinesPrinter

        publishers.append(JsonLinesPrinter(config.topic_prefix))
    return publishers
