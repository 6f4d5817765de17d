"""The one MQTT client wrapper: availability, retained state, events through the outbox, stats and Home Assistant
discovery; it also subscribes to the topics dmsd listens to (dmsd.publish.subscriptions: the vehicle's speed and
gear, Home Assistant's birth message) and hands their messages on.

Events are never dropped for being disconnected. Each is written to the outbox (dmsd.publish.outbox: a SQLite file
by default, so they outlive the process) before anything else happens to it, and a sender thread hands them to
paho one at a time, oldest first, only while connected, deleting each only when its PUBACK comes: so they arrive in
order, and paho itself resends the one in flight if the connection drops under it. The outbox is bounded
(`mqtt.queue_size`, `mqtt.queue_max_mb`); when it is full the oldest go first, counted and logged. On every
(re)connect, availability, the discovery message and the latest state are republished.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from dmsd.config import HomeAssistantConfig, MqttConfig
from dmsd.publish.homeassistant import discovery_payload, discovery_topic
from dmsd.publish.outbox import open_outbox
from dmsd.publish.subscriptions import Subscriptions

log = logging.getLogger(__name__)


class MqttPublisher:
    """A Publisher (dmsd.publish.publisher) over paho-mqtt."""

    def __init__(
        self,
        config: MqttConfig,
        prefix: str,
        client_id: str,
        device: str,
        homeassistant: HomeAssistantConfig | None = None,
        subscriptions: Subscriptions | None = None,
        phone: bool = False,
    ):
        """subscriptions: the topics dmsd listens to (dmsd.publish.subscriptions); Home Assistant's birth message
        is added to them here, since the answer to it is a publish. phone: announce the phone entity (phone use is
        looked for)."""
        self.config, self.prefix = config, prefix
        self.topics = {name: f"{prefix}/{name}" for name in ("availability", "state", "events", "stats", "vehicle")}
        self.homeassistant = homeassistant or HomeAssistantConfig()
        self.discovery_topic = discovery_topic(self.homeassistant.prefix, device)
        discovery = discovery_payload(device, self.topics, self.homeassistant.support_url, phone)
        self.discovery = json.dumps(discovery).encode()
        self.subscriptions = subscriptions or Subscriptions()
        if self.homeassistant.enabled:
            self.subscriptions.add(f"{self.homeassistant.prefix}/status", self._on_homeassistant_status)
        self.outbox_path = config.outbox_path()
        self.outbox = open_outbox(self.outbox_path, config.queue_size, int(config.queue_max_mb * 1_000_000))
        self._cond = threading.Condition()
        self._connected = False
        self._closing = False
        self._state: bytes | None = None
        self._last_refusal: str | None = None
        self._acked: set[int] = set()

        self.client_id = config.client_id or client_id
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311, clean_session=True
        )
        client.will_set(self.topics["availability"], "offline", qos=1, retain=True)
        if config.username:
            client.username_pw_set(config.username, config.resolve_password())
        if config.tls.enabled:
            client.tls_set(
                ca_certs=config.tls.ca_certs,
                certfile=config.tls.certfile,
                keyfile=config.tls.keyfile,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(config.tls.insecure)
        client.reconnect_delay_set(int(max(1, config.reconnect_min_s)), int(max(1, config.reconnect_max_s)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self.client = client
        self._sender = threading.Thread(target=self._send_events, name="mqtt-events", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        log.info(
            "MQTT: connecting to %s:%d as %s (topics under %s/)",
            self.config.host,
            self.config.port,
            self.client_id,
            self.prefix,
        )
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()
        self._sender.start()

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (up to `drain_timeout_s`), then say offline and disconnect cleanly."""
        timeout = self.config.drain_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.outbox) and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            left = len(self.outbox)
            self._closing = True
            self._cond.notify_all()
        self._sender.join(timeout=2)
        if left:
            kept = (
                f"; kept in {self.outbox_path}, the next run sends them first"
                if self.outbox.persistent
                else "; lost (they were in memory only)"
            )
            log.error("MQTT: %d event(s) not delivered: broker unreachable for the last %.1f s%s", left, timeout, kept)
        with self._cond:
            self.outbox.close()
        if self._connected:
            info = self.client.publish(self.topics["availability"], "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    # -- what the daemon publishes ---------------------------------------------------------------------
    def state(self, payload: dict) -> None:
        """Retained state: only the newest matters, so it is not queued but republished on reconnect."""
        self._state = json.dumps(payload).encode()
        if self._connected:
            self.client.publish(self.topics["state"], self._state, qos=1, retain=True)

    def event(self, payload: dict) -> None:
        with self._cond:
            self.outbox.put(self.topics["events"], json.dumps(payload).encode())
            self._cond.notify_all()

    def stats(self, payload: dict) -> None:
        if self._connected:
            self.client.publish(self.topics["stats"], json.dumps(payload), qos=0, retain=False)

    @property
    def queued_events(self) -> int:
        return len(self.outbox)

    @property
    def dropped_events(self) -> int:
        return self.outbox.dropped

    def announce(self) -> None:
        """Home Assistant's discovery message, retained; an empty one removes the entities when it is disabled."""
        payload = self.discovery if self.homeassistant.enabled else b""
        self.client.publish(self.discovery_topic, payload, qos=1, retain=True)

    # -- paho callbacks (paho's network thread) --------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            refusal = f"MQTT: broker {self.config.host}:{self.config.port} refused the connection: {reason_code}"
            if refusal != self._last_refusal:
                log.error("%s; retrying", refusal)
            self._last_refusal = refusal
            return
        self._last_refusal = None
        log.info("MQTT: connected to %s:%d", self.config.host, self.config.port)
        client.publish(self.topics["availability"], "online", qos=1, retain=True)
        self.announce()
        for topic in self.subscriptions.topics:
            client.subscribe(topic, qos=1)
        if self._state is not None:
            client.publish(self.topics["state"], self._state, qos=1, retain=True)
        with self._cond:
            self._connected = True
            self._cond.notify_all()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            was_connected, self._connected = self._connected, False
        if was_connected and not self._closing:
            log.warning("MQTT: disconnected (%s); %d event(s) queued, reconnecting", reason_code, len(self.outbox))

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho calls this from inside its `except OSError`, so the cause is still at hand.
        cause = sys.exc_info()[1]
        reason = f" ({cause})" if cause else ""
        refusal = f"MQTT: cannot reach broker {self.config.host}:{self.config.port}{reason}"
        if refusal != self._last_refusal:
            log.error("%s; retrying with backoff up to %.0f s", refusal, self.config.reconnect_max_s)
        self._last_refusal = refusal

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason_code: ReasonCode, properties: Properties | None
    ) -> None:
        with self._cond:
            self._acked.add(mid)
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.subscriptions.deliver(message.topic, bytes(message.payload))

    def _on_homeassistant_status(self, topic: str, payload: bytes) -> None:
        if payload.strip().lower() == b"online":  # Home Assistant (re)started: it wants the discovery again
            log.info("MQTT: Home Assistant announced itself on %s; discovery sent again", topic)
            self.announce()

    # -- the sender thread -----------------------------------------------------------------------------
    def _send_events(self) -> None:
        while True:
            with self._cond:
                pending = None
                while not self._closing and not (self._connected and (pending := self.outbox.oldest())):
                    self._cond.wait()
                if self._closing or pending is None:
                    return
            # Outside the lock: paho calls on_publish with its own locks held.
            info = self.client.publish(pending.topic, pending.payload, qos=1, retain=False)
            with self._cond:
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    log.error("MQTT: event publish failed (%s), will retry", mqtt.error_string(info.rc))
                    self._cond.wait(1.0)
                else:
                    # paho keeps a QoS 1 message it accepted and resends it after a reconnect, so we wait
                    # for its PUBACK rather than publish again, which would deliver it twice. Unacknowledged
                    # at close, it stays in the outbox for the next run.
                    while info.mid not in self._acked and not self._closing:
                        self._cond.wait()
                    if info.mid in self._acked:
                        self.outbox.ack(pending.id)
                self._acked.clear()  # only one event is ever in flight; other acks are state's
                self._cond.notify_all()
