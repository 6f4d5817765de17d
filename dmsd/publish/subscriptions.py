"""What dmsd receives over MQTT, apart from what it publishes: the topics it listens to, each with its handler.

The MQTT client (dmsd.publish.mqtt) subscribes to `topics` on every connect and hands each message to `deliver`
from paho's network thread; a handler must be quick and thread-safe (dmsd.driver.vehicle.VehicleInbox is).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

MessageHandler = Callable[[str, bytes], None]

log = logging.getLogger(__name__)


class Subscriptions:
    def __init__(self) -> None:
        self._handlers: dict[str, MessageHandler] = {}

    def add(self, topic: str, handler: MessageHandler) -> None:
        """Listen to `topic` (an exact topic, no wildcards): each message goes to `handler(topic, payload)`."""
        self._handlers[topic] = handler

    @property
    def topics(self) -> list[str]:
        return list(self._handlers)

    def deliver(self, topic: str, payload: bytes) -> None:
        handler = self._handlers.get(topic)
        if handler is None:
            return
        try:
            handler(topic, payload)
        except Exception:  # one bad message must not stop the client's network thread
            log.exception("MQTT: the handler of %s failed on a message; it is dropped", topic)
