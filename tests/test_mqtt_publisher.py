"""The MQTT client (dmsd.publish.mqtt.MqttPublisher) in this process against a real Mosquitto: what it publishes and
with which QoS and retain flag, what it republishes on a reconnect, how it reports a refusal, what a crash leaves,
and what waits in the outbox. The daemon around it is tested as a process (test_daemon_mqtt.py); these run in the
test's own process so that `make mutation` can trace them (README, "Mutation testing")."""

import json
import logging
import os
import signal
import socket
import threading
import time

import paho.mqtt.publish as publish
import pytest

from dmsd.config import HomeAssistantConfig, MqttConfig, TlsConfig
from dmsd.publish.homeassistant import discovery_payload
from dmsd.publish.mqtt import MqttPublisher
from dmsd.publish.subscriptions import Subscriptions
from harness import Broker, make_certificates, secured_broker

DEVICE = "pub-car.1"
PREFIX = f"dms/{DEVICE}"
DISCOVERY = "homeassistant/device/pub-car_1/config"  # the node id keeps only [a-zA-Z0-9_-]
# How long to wait for what a local broker delivers in milliseconds: long enough for a loaded machine, short enough
# that a broken publisher (a mutant, in `make mutation`) fails soon.
WAIT = 10


@pytest.fixture
def publishers(monkeypatch):
    """Makes MqttPublishers for DEVICE (not started), reconnecting after 1 s, waiting up to 5 s at close for events
    to be delivered; closes them after the test."""
    monkeypatch.delenv("DMSD_MQTT_PASSWORD", raising=False)
    made = []

    def factory(broker, homeassistant=None, subscriptions=None, phone=False, **mqtt) -> MqttPublisher:
        config = MqttConfig(
            host=broker.host,
            port=broker.port,
            reconnect_min_s=1,
            reconnect_max_s=1,
            **{"outbox": None, "drain_timeout_s": 5, **mqtt},
        )
        made.append(MqttPublisher(config, PREFIX, "dmsd-pub-car", DEVICE, homeassistant, subscriptions, phone))
        return made[-1]

    yield factory
    for publisher in made:
        close(publisher, timeout=0)


def close(publisher: MqttPublisher, timeout: float | None = None) -> None:
    """publisher.close(timeout), which must return within WAIT (it waits at most `timeout`, else drain_timeout_s, 5 s
    here, for events to be delivered, and 2 s for the broker to acknowledge `offline`), and raise nothing, however
    often it is called."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            publisher.close(timeout)
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    closing = threading.Thread(target=run, daemon=True)
    closing.start()
    closing.join(WAIT)
    assert not closing.is_alive(), "close() did not return"
    if raised:
        raise raised[0]


def fresh(sub, since: int = 0) -> list[tuple[str, bytes]]:
    """(topic, payload) of what reached `sub` after its message number `since` as it was published: leaving out the
    retained copies the broker hands a client that (re)subscribes, and the broker's second delivery of a message whose
    acknowledgement a restart cut off (QoS 1's duplicate)."""
    with sub.cond:
        return [(m.topic, m.payload) for m in sub.received[since:] if not (m.retain or m.dup)]


def arrived(sub, topic: str, payload: bytes, since: int = 0) -> bool:
    return (topic, payload) in fresh(sub, since)


def wait_until(condition, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def counted(callback, calls: threading.Semaphore):
    """paho's callback as the publisher set it, and a count of its calls (each connection attempt's outcome)."""

    def wrapper(*args):
        callback(*args)
        calls.release()

    return wrapper


def acquire(calls: threading.Semaphore, n: int) -> None:
    for _ in range(n):
        assert calls.acquire(timeout=WAIT), "the publisher stopped trying to connect"


def test_a_reconnect_republishes_availability_discovery_and_the_latest_state(own_broker, subscribe, publishers, caplog):
    """After the broker comes back, `online`, the discovery message and the newest state are published again as
    fresh messages (not the broker's retained copies), the state before any event that waited, and dmsd listens to
    its topics again."""
    caplog.set_level(logging.INFO)
    sub = subscribe(own_broker, "#", qos=2)  # a persistent session: what is published while it reconnects waits
    vehicle = []
    subscriptions = Subscriptions()
    subscriptions.add(f"{PREFIX}/vehicle", lambda topic, payload: vehicle.append(payload))
    publisher = publishers(own_broker, subscriptions=subscriptions)
    publisher.state({"n": 1})  # before the first connect: sent on it
    publisher.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/state", b'{"n": 1}'), WAIT)
    assert arrived(sub, f"{PREFIX}/availability", b"online") and arrived(sub, DISCOVERY, publisher.discovery)
    publisher.state({"n": 2})
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/state", b'{"n": 2}'), WAIT)
    assert fresh(sub).count((f"{PREFIX}/state", b'{"n": 1}')) == 1  # kept until the connect, sent once then

    since = len(sub.messages)
    own_broker.stop()
    wait_until(lambda: "MQTT: disconnected" in caplog.text)  # the publisher knows; what follows waits for the broker
    publisher.state({"n": 3})
    publisher.event({"seq": 1})
    own_broker.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/events", b'{"seq": 1}', since), WAIT)

    again = fresh(sub, since)
    assert again.count((f"{PREFIX}/availability", b"online")) == 1
    assert again.count((DISCOVERY, publisher.discovery)) == 1
    states = [payload for topic, payload in again if topic == f"{PREFIX}/state"]
    assert states == [b'{"n": 3}']  # the newest, once
    topics = [topic for topic, _ in again]
    assert topics.index(f"{PREFIX}/state") < topics.index(f"{PREFIX}/events")
    assert {m.qos for m in sub.received[since:]} == {1}
    late = subscribe(own_broker, f"{PREFIX}/state")
    late.wait_for(lambda m: len(m) == 1, WAIT)
    assert late.messages == [(f"{PREFIX}/state", b'{"n": 3}', True)]  # what was sent again is retained again
    publish.single(f"{PREFIX}/vehicle", b'{"speed_kmh": 50}', qos=1, hostname=own_broker.host, port=own_broker.port)
    wait_until(lambda: vehicle == [b'{"speed_kmh": 50}'])  # subscribed again on the new connection


def test_each_topic_has_the_qos_and_retain_flag_of_the_readme_table(own_broker, subscribe, publishers, caplog):
    sub = subscribe(own_broker, "#", qos=2)  # sees each message with its publisher's QoS
    publisher = publishers(own_broker)
    publisher.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/availability", b"online"), WAIT)  # stats: only when connected
    publisher.state({"driver_present": True})
    publisher.event({"type": "driver_present"})
    publisher.stats({"fps": 5.0})
    sub.wait_for(lambda m: {t for t, _, _ in m} >= {f"{PREFIX}/{name}" for name in ("state", "events", "stats")}, WAIT)
    while_running = subscribe(own_broker, f"{PREFIX}/availability")
    while_running.wait_for(lambda m: len(m) == 1, WAIT)
    assert while_running.messages == [(f"{PREFIX}/availability", b"online", True)]  # retained
    with caplog.at_level(logging.WARNING):
        close(publisher)
    sub.wait_offline(WAIT)
    assert "disconnected" not in caplog.text  # a goodbye of its own is no news
    qos: dict[str, set[int]] = {}
    for message in sub.received:
        qos.setdefault(message.topic.removeprefix(PREFIX + "/"), set()).add(message.qos)
    assert qos == {"availability": {1}, "state": {1}, "events": {1}, "stats": {0}, DISCOVERY: {1}}

    late = subscribe(own_broker, "#")
    publish.single("test/mark", b"", qos=1, hostname=own_broker.host, port=own_broker.port)
    late.wait_for(lambda m: any(t == "test/mark" for t, _, _ in m), WAIT)  # after the retained ones
    retained = {topic: payload for topic, payload, was_retained in late.messages if was_retained}
    assert retained == {
        f"{PREFIX}/availability": b"offline",
        f"{PREFIX}/state": b'{"driver_present": true}',
        DISCOVERY: publisher.discovery,
    }


def test_the_connection_names_the_client_with_a_clean_session_and_listens_at_qos_1(tmp_path, publishers):
    (tmp_path / "broker").mkdir()
    broker = Broker(
        tmp_path / "broker", extra_config="allow_anonymous true\nlog_type all\n"
    ).start()  # logs each packet
    try:
        subscriptions = Subscriptions()
        subscriptions.add(f"{PREFIX}/vehicle", lambda topic, payload: None)
        publisher = publishers(broker, keepalive_s=17, subscriptions=subscriptions)
        publisher.start()
        log = broker.workdir / "mosquitto.log"
        wait_until(lambda: "Sending SUBACK to dmsd-pub-car" in log.read_text())
        said = log.read_text()
        assert "as dmsd-pub-car (p2, c1, k17)." in said  # MQTT 3.1.1, a clean session, the configured keepalive
        assert f"\t{PREFIX}/vehicle (QoS 1)" in said and "\thomeassistant/status (QoS 1)" in said
        named = publishers(broker, client_id="cab-7")
        named.start()
        wait_until(lambda: "as cab-7 (" in log.read_text())
    finally:
        broker.stop()


def test_close_returns_when_the_broker_stops_answering(own_broker, subscribe, publishers):
    sub = subscribe(own_broker, f"{PREFIX}/availability")
    publisher = publishers(own_broker)
    publisher.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/availability", b"online"), WAIT)
    os.kill(own_broker.process.pid, signal.SIGSTOP)  # the connection stays up; nothing is acknowledged any more
    try:
        close(publisher)  # not waiting for ever for the broker to acknowledge `offline`
    finally:
        os.kill(own_broker.process.pid, signal.SIGCONT)


def test_a_crash_leaves_offline_retained_as_the_last_will(own_broker, subscribe, publishers):
    sub = subscribe(own_broker, f"{PREFIX}/availability", qos=2)
    publisher = publishers(own_broker)
    publisher.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/availability", b"online"), WAIT)
    publisher.client.loop_stop()
    publisher.client.socket().shutdown(socket.SHUT_RDWR)  # as when the process dies: the connection just ends
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/availability", b"offline"), WAIT)
    assert sub.received[-1].qos == 1
    late = subscribe(own_broker, f"{PREFIX}/availability")
    late.wait_for(lambda m: len(m) == 1, WAIT)
    assert late.messages == [(f"{PREFIX}/availability", b"offline", True)]


def test_events_wait_in_the_outbox_while_the_broker_is_down_and_arrive_once_each_in_order(
    own_broker, subscribe, publishers, tmp_path
):
    sub = subscribe(own_broker, f"{PREFIX}/#")
    own_broker.stop()
    publisher = publishers(own_broker, outbox=str(tmp_path / "outbox.sqlite"), queue_size=3)
    publisher.start()
    for seq in range(1, 6):
        publisher.event({"seq": seq})
    assert publisher.queued_events == 3 and publisher.dropped_events == 2  # the oldest two made room
    own_broker.start()
    sub.wait_for_events(3, WAIT)
    close(publisher)  # what is left is delivered first, then `offline`
    assert publisher.queued_events == 0
    sub.wait_offline(WAIT)
    assert sub.payloads("events") == [{"seq": 3}, {"seq": 4}, {"seq": 5}]


def test_queue_max_mb_counts_megabytes_of_a_million_bytes(own_broker, publishers):
    """mqtt.queue_max_mb 1 is 1,000,000 bytes of events (not a MiB): two events of exactly that much in all both wait
    while the broker is down; one byte more, and the oldest makes room."""
    own_broker.stop()
    for total, dropped in ((1_000_000, 0), (1_000_001, 1)):
        publisher = publishers(own_broker, queue_max_mb=1.0)
        publisher.start()
        for size in (500_000, total - 500_000):
            publisher.event({"x": "a" * (size - len('{"x": ""}'))})  # its JSON is `size` bytes
        assert (publisher.queued_events, publisher.dropped_events) == (2 - dropped, dropped), total


def test_close_delivers_the_events_still_queued_before_it_says_offline(own_broker, subscribe, publishers):
    """Events go one at a time, each after the broker acknowledged the one before: 200 queued at once are still
    queued when close() is called at once, and close() delivers them all (within drain_timeout_s), then offline."""
    sub = subscribe(own_broker, f"{PREFIX}/#")
    publisher = publishers(own_broker)
    publisher.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/availability", b"online"), WAIT)
    for seq in range(1, 201):
        publisher.event({"seq": seq})
    assert publisher.queued_events > 0  # the last one, at least, cannot have been acknowledged yet
    close(publisher)
    assert publisher.queued_events == 0
    sub.wait_offline(WAIT)
    assert sub.payloads("events") == [{"seq": seq} for seq in range(1, 201)]


def test_events_undelivered_at_close_wait_in_the_outbox_for_the_next_run(
    own_broker, subscribe, publishers, tmp_path, caplog
):
    sub = subscribe(own_broker, f"{PREFIX}/#")
    own_broker.stop()
    outbox = tmp_path / "outbox.sqlite"
    first = publishers(own_broker, outbox=str(outbox), drain_timeout_s=0)
    first.start()
    first.event({"seq": 1})
    first.event({"seq": 2})
    with caplog.at_level(logging.ERROR):
        close(first)  # drain_timeout_s: 0, so at once
    assert f"2 event(s) not delivered: broker unreachable for the last 0.0 s; kept in {outbox}" in caplog.text
    own_broker.start()
    second = publishers(own_broker, outbox=str(outbox))
    second.start()
    second.event({"seq": 3})
    close(second)
    sub.wait_offline(WAIT)
    assert sub.payloads("events") == [{"seq": 1}, {"seq": 2}, {"seq": 3}]


def test_close_gives_up_after_the_drain_timeout_and_reports_events_kept_in_memory_lost(own_broker, publishers, caplog):
    own_broker.stop()
    publisher = publishers(own_broker, outbox=None)
    publisher.start()
    publisher.event({"seq": 1})
    with caplog.at_level(logging.ERROR):
        close(publisher, timeout=0.2)  # not the configured 10 s
    assert "1 event(s) not delivered: broker unreachable for the last 0.2 s; lost (they were in memory only)" in (
        caplog.text
    )


def test_stats_are_not_kept_for_later_while_disconnected(own_broker, subscribe, publishers):
    sub = subscribe(own_broker, f"{PREFIX}/#")
    own_broker.stop()
    publisher = publishers(own_broker)
    publisher.start()
    publisher.stats({"n": 1})  # nobody to send it to: it is dropped, not queued
    own_broker.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/availability", b"online"), WAIT)
    publisher.stats({"n": 2})
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/stats", b'{"n": 2}'), WAIT)
    assert sub.payloads("stats") == [{"n": 2}]
    assert not [t for t, _, _ in sub.messages if t.endswith("/state")]  # and no state before there is one


def test_an_unreachable_broker_is_logged_once_per_outage(own_broker, publishers, caplog):
    caplog.set_level(logging.INFO)
    own_broker.stop()
    publisher = publishers(own_broker)
    callback = publisher.client.on_connect_fail
    for outage in (1, 2):
        attempts = threading.Semaphore(0)
        publisher.client.on_connect_fail = counted(callback, attempts)
        if outage == 1:
            publisher.start()
        else:
            own_broker.stop()
        acquire(attempts, 3)
        assert caplog.text.count("cannot reach broker") == outage  # once an outage, however many attempts
        assert "Connection refused" in caplog.text
        own_broker.start()
        wait_until(lambda n=outage: caplog.text.count("MQTT: connected") == n)


def test_refused_credentials_are_logged_once(tmp_path, publishers, caplog):
    folder = tmp_path / "auth-broker"
    folder.mkdir()
    broker = secured_broker(folder, users={"dash": "s3cret"}).start()
    try:
        publisher = publishers(broker, username="dash", password="not-the-password")
        attempts = threading.Semaphore(0)
        publisher.client.on_connect = counted(publisher.client.on_connect, attempts)
        with caplog.at_level(logging.ERROR):
            publisher.start()
            acquire(attempts, 3)
        refusals = [r.getMessage() for r in caplog.records if "refused the connection" in r.getMessage()]
        assert refusals == [
            f"MQTT: broker {broker.host}:{broker.port} refused the connection: Not authorized; retrying"
        ]
        assert "not-the-password" not in caplog.text
        with caplog.at_level(logging.INFO):
            publishers(broker, username="dash", password="s3cret").start()
            wait_until(lambda: "MQTT: connected" in caplog.text)
    finally:
        broker.stop()


class Marks:
    """A topic of the test's own that the publisher listens to: once a mark has reached it, every message the test
    sent it before has been handled too (one connection, in order)."""

    topic = "test/mark"

    def __init__(self, subscriptions: Subscriptions):
        self.seen: list[bytes] = []
        subscriptions.add(self.topic, lambda topic, payload: self.seen.append(payload))

    def send_after(self, broker, topic: str, payload: bytes) -> None:
        """`payload` on `topic`, then a mark; returns once the publisher has handled both."""
        mark = f"{len(self.seen)}".encode()
        publish.multiple(
            [(topic, payload, 1, False), (self.topic, mark, 1, False)], hostname=broker.host, port=broker.port
        )
        wait_until(lambda: mark in self.seen)


def start_listening(publisher: MqttPublisher, sub) -> None:
    """Start `publisher`, and return once it listens to its topics: on a connect it subscribes before it sends the
    state, and the broker takes one client's packets in order, so the state's arrival at `sub` (under "#") says so."""
    publisher.state({"listening": True})
    publisher.start()
    sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/state", b'{"listening": true}'), WAIT)


@pytest.mark.parametrize("status", [b"online", b" Online\n"])
def test_home_assistant_saying_online_asks_for_the_discovery_again(own_broker, subscribe, publishers, status):
    sub = subscribe(own_broker, "#")
    subscriptions = Subscriptions()
    marks = Marks(subscriptions)
    publisher = publishers(own_broker, subscriptions=subscriptions)
    start_listening(publisher, sub)

    def announced_before(state: bytes) -> int:
        """Discovery messages that arrived before `state` (the publisher sends in order, on one connection)."""
        sub.wait_for(lambda m: arrived(sub, f"{PREFIX}/state", state), WAIT)
        messages = fresh(sub)
        return [topic for topic, _ in messages[: messages.index((f"{PREFIX}/state", state))]].count(DISCOVERY)

    marks.send_after(own_broker, "homeassistant/status", b"offline")
    publisher.state({"after": "offline"})
    marks.send_after(own_broker, "homeassistant/status", status)
    publisher.state({"after": "online"})
    assert announced_before(b'{"after": "offline"}') == 1  # at the connect only
    assert announced_before(b'{"after": "online"}') == 2  # and for `online`
    assert fresh(sub).count((DISCOVERY, publisher.discovery)) == 2


def test_discovery_disabled_removes_the_device_and_ignores_home_assistant(own_broker, subscribe, publishers):
    publish.single(DISCOVERY, b"{}", qos=1, retain=True, hostname=own_broker.host, port=own_broker.port)
    sub = subscribe(own_broker, "#")
    subscriptions = Subscriptions()
    marks = Marks(subscriptions)
    publisher = publishers(own_broker, homeassistant=HomeAssistantConfig(enabled=False), subscriptions=subscriptions)
    start_listening(publisher, sub)
    marks.send_after(own_broker, "homeassistant/status", b"online")
    close(publisher)
    sub.wait_offline(WAIT)
    assert [m for m in fresh(sub) if m[0] == DISCOVERY] == [(DISCOVERY, b"")]  # Home Assistant removes the device
    late = subscribe(own_broker, "#")
    publish.single(Marks.topic, b"", qos=1, hostname=own_broker.host, port=own_broker.port)
    late.wait_for(lambda m: any(t == Marks.topic for t, _, _ in m), WAIT)
    assert DISCOVERY not in [t for t, _, _ in late.messages]  # nothing retained there any more


def test_the_discovery_message_is_home_assistants_own_prefix_and_the_configured_entities(
    own_broker, subscribe, publishers
):
    topic = "ha/discovery/device/pub-car_1/config"
    sub = subscribe(own_broker, topic)
    homeassistant = HomeAssistantConfig(prefix="ha/discovery", support_url="https://example.com/dmsd")
    publisher = publishers(own_broker, homeassistant=homeassistant, phone=True)
    publisher.start()
    sub.wait_for(lambda m: len(fresh(sub)) == 1, WAIT)
    expected = discovery_payload(DEVICE, publisher.topics, "https://example.com/dmsd", phone=True)
    assert json.loads(fresh(sub)[0][1]) == expected
    assert expected["o"]["url"] == "https://example.com/dmsd" and "pub-car_1_phone" in expected["cmps"]
    plain = MqttPublisher(MqttConfig(outbox=None), PREFIX, "dmsd-pub-car", DEVICE)  # phone use not looked for
    assert json.loads(plain.discovery) == discovery_payload(DEVICE, publisher.topics)
    assert publisher.topics == {
        name: f"{PREFIX}/{name}" for name in ("availability", "state", "events", "stats", "vehicle")
    }


def tls(folder, ca: str = "ca.crt", **options) -> dict:
    return {"tls": TlsConfig(enabled=True, ca_certs=str(folder / ca), **options)}


@pytest.mark.parametrize("client_certificates", [False, True])
def test_tls_with_the_brokers_ca_connects(tmp_path, publishers, caplog, client_certificates):
    broker = secured_broker(tmp_path, tls=True, client_certificates=client_certificates).start()
    try:
        mine = {"certfile": str(tmp_path / "server.crt"), "keyfile": str(tmp_path / "server.key")}
        caplog.set_level(logging.INFO)
        publishers(broker, **tls(tmp_path, **(mine if client_certificates else {}))).start()
        wait_until(lambda: "MQTT: connected" in caplog.text)
    finally:
        broker.stop()


@pytest.mark.parametrize("shown", ["server", "elsewhere"])
def test_tls_refuses_a_broker_it_cannot_trust_unless_told_to_skip_the_name(tmp_path, publishers, caplog, shown):
    """A broker whose certificate another CA signed is refused; so is one whose certificate names another host,
    unless `tls.insecure` says not to check the name."""
    make_certificates(tmp_path)
    broker = Broker(
        tmp_path,
        extra_config=f"allow_anonymous true\ncafile {tmp_path}/ca.crt\n"
        f"certfile {tmp_path}/{shown}.crt\nkeyfile {tmp_path}/{shown}.key\n",
    ).start()
    try:
        caplog.set_level(logging.INFO)
        publishers(broker, **tls(tmp_path, "other.crt" if shown == "server" else "ca.crt")).start()
        wait_until(lambda: "cannot reach broker" in caplog.text)
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and "MQTT: connected" not in caplog.text
        if shown == "elsewhere":
            publishers(broker, **tls(tmp_path, insecure=True)).start()
            wait_until(lambda: "MQTT: connected" in caplog.text)
    finally:
        broker.stop()
