"""Real MQTT for tests and measurements: a Mosquitto process on a free port, and clients that record what arrives."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if found is None:
        raise RuntimeError(
            "mosquitto is not installed: `make test` installs it (as root), or apt-get install mosquitto"
        )
    return found


class Broker:
    """A real mosquitto process on 127.0.0.1; stop() and start() again keep the port and persisted sessions."""

    def __init__(self, workdir: Path, extra_config: str = ""):
        self.host, self.port = "127.0.0.1", free_port()
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            # As root, mosquitto would switch to its own user and lose access to pytest's private temp dir.
            f"user {getpass.getuser()}\n"
            f"persistence true\npersistence_location {workdir}/\n"
            f"log_dest file {workdir}/mosquitto.log\n" + (extra_config or "allow_anonymous true\n")
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> "Broker":
        errors = open(self.workdir / "stderr.txt", "wb")
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=errors
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    log = self.workdir / "mosquitto.log"
                    said = (self.workdir / "stderr.txt").read_text() + (log.read_text() if log.exists() else "")
                    raise RuntimeError(f"mosquitto exited: {said[-500:]}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Subscriber:
    """A real MQTT client that records every message on a topic filter, with a persistent QoS 1 session."""

    def __init__(
        self,
        broker: Broker,
        topic: str,
        username: str | None = None,
        password: str | None = None,
        ca_certs: str | None = None,
    ):
        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{free_port()}", clean_session=False)
        if username:
            self.client.username_pw_set(username, password)
        if ca_certs:
            self.client.tls_set(ca_certs=ca_certs)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.wait_connected()

    def wait_connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise TimeoutError("subscriber did not connect")
            time.sleep(0.05)
        time.sleep(0.2)  # the SUBACK

    def _on_message(self, client, userdata, message) -> None:
        with self.cond:
            self.messages.append((message.topic, message.payload, bool(message.retain)))
            self.cond.notify_all()

    def wait_for(self, predicate, timeout: float = 30):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met; got {[(t, p[:80]) for t, p, _ in self.messages][-10:]}")
                self.cond.wait(remaining)

    def payloads(self, suffix: str) -> list:
        with self.cond:
            out = []
            for topic, payload, _ in self.messages:
                if topic.endswith("/" + suffix):
                    out.append(payload.decode() if suffix == "availability" else json.loads(payload))
            return out

    def wait_offline(self, timeout: float = 30) -> None:
        """Until the last availability message is `offline`: the daemon has said goodbye."""
        self.wait_for(
            lambda m: (a := [p for t, p, _ in m if t.endswith("/availability")]) and a[-1] == b"offline", timeout
        )

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class EventListener:
    """A dashboard: subscribes to one events topic, with credentials or TLS if asked, and keeps the payloads."""

    def __init__(
        self,
        broker: Broker,
        topic: str,
        username: str | None = None,
        password: str | None = None,
        ca_certs: str | None = None,
    ):
        self.broker = broker
        self.received: list[dict] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        if ca_certs:
            self.client.tls_set(ca_certs=ca_certs)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = lambda c, u, m: self.received.append(json.loads(m.payload))

    def __enter__(self) -> "EventListener":
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        time.sleep(0.5)  # connected and subscribed before the daemon starts
        return self

    def __exit__(self, *exc) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def wait_for_count(self, count: int, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.received
