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
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from harness.tls import make_certificates


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


def password_file(folder: Path, users: dict[str, str]) -> Path:
    """folder/passwords, Mosquitto's password file for these users (name: password), made by mosquitto_passwd."""
    if shutil.which("mosquitto_passwd") is None:
        raise RuntimeError("mosquitto_passwd is not installed: it comes with mosquitto (apt-get install mosquitto)")
    path = folder / "passwords"
    for i, (user, password) in enumerate(users.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", "-b", *create, str(path), user, password], check=True)
    return path


def secured_broker(
    workdir: Path, users: dict[str, str] | None = None, tls: bool = False, client_certificates: bool = False
) -> Broker:
    """A broker (not started) that lets in only these users (name: password; None: anyone) and, with `tls`, speaks
    only TLS, with the certificates of harness.tls in `workdir`: clients trust workdir/ca.crt, and workdir/other.crt
    is a CA the broker's certificate does not chain to. With `client_certificates`, a client must also show a
    certificate signed by ca.crt (workdir/server.crt and server.key are one)."""
    config = (
        f"allow_anonymous false\npassword_file {password_file(workdir, users)}\n" if users else "allow_anonymous true\n"
    )
    if tls:
        make_certificates(workdir)
        config += f"cafile {workdir}/ca.crt\ncertfile {workdir}/server.crt\nkeyfile {workdir}/server.key\n"
        config += "require_certificate true\n" if client_certificates else ""
    return Broker(workdir, extra_config=config)


class Subscriber:
    """A real MQTT client, as a dashboard would be, that records every message on a topic filter.

    Its session is persistent (clean_session false), subscribed at QoS 1 (or `qos`): the broker keeps the
    subscription, and what arrives for it meanwhile, while either end is away, so a broker restart loses nothing for
    it. Username, password and a CA file (TLS) if the broker asks for them. `messages` is (topic, payload, retain)
    in arrival order; `retain` is True only on a retained copy the broker hands over as it (re)subscribes, so a
    message published afresh can be told from an old copy. `received` holds paho's messages themselves, with their
    `qos` (the publisher's, up to the subscription's: `qos=2` sees every publisher's) and `dup` (a QoS 1 message
    sent again because its acknowledgement was cut off). Connected and subscribed when made; a context manager too.
    """

    def __init__(
        self,
        broker: Broker,
        topic: str,
        username: str | None = None,
        password: str | None = None,
        ca_certs: str | None = None,
        qos: int = 1,
        timeout: float = 10,
    ):
        self.topic, self.subscription_qos = topic, qos
        self.messages: list[tuple[str, bytes, bool]] = []
        self.received: list[mqtt.MQTTMessage] = []
        self.cond = threading.Condition()
        self._subscribed = False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:12]}", clean_session=False
        )
        if username:
            self.client.username_pw_set(username, password)
        if ca_certs:
            self.client.tls_set(ca_certs=ca_certs)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        with self.cond:
            if not self.cond.wait_for(lambda: self._subscribed, timeout):
                self.close()
                raise TimeoutError(f"the subscriber to {topic} was not subscribed within {timeout} s")

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe(self.topic, qos=self.subscription_qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self.cond:
            self._subscribed = True
            self.cond.notify_all()

    def _on_message(self, client, userdata, message) -> None:
        with self.cond:
            self.messages.append((message.topic, message.payload, bool(message.retain)))
            self.received.append(message)
            self.cond.notify_all()

    def wait_for(self, predicate, timeout: float = 30) -> None:
        """Until predicate(messages) holds; TimeoutError, with the last messages, if it does not in time."""
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.messages), timeout):
                raise TimeoutError(f"condition not met; got {[(t, p[:80]) for t, p, _ in self.messages][-10:]}")

    def payloads(self, suffix: str) -> list:
        """The payloads on topics ending in /suffix, in order: availability as text, the others as JSON."""
        with self.cond:
            out = []
            for topic, payload, _ in self.messages:
                if topic.endswith("/" + suffix):
                    out.append(payload.decode() if suffix == "availability" else json.loads(payload))
            return out

    def wait_for_events(self, count: int, timeout: float = 30) -> list[dict]:
        """Until `count` event payloads have arrived: all of them (there may be more)."""
        self.wait_for(lambda m: sum(t.endswith("/events") for t, _, _ in m) >= count, timeout)
        return self.payloads("events")

    def wait_offline(self, timeout: float = 30) -> None:
        """Until the last availability message is `offline`: the daemon has said goodbye."""
        self.wait_for(
            lambda m: (a := [p for t, p, _ in m if t.endswith("/availability")]) and a[-1] == b"offline", timeout
        )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
