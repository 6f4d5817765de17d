"""sd_notify against a real Unix datagram socket, as systemd would hold it."""

import os
import socket
import threading
import uuid

import pytest

from dmsd.publish.notify import SystemdNotifier
from harness import CLIP, running_dmsd


def collect(sock) -> list[str]:
    sock.settimeout(0.2)
    messages = []
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except (socket.timeout, BlockingIOError):
        return messages


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    yield sock, str(path)
    sock.close()


def test_daemon_says_ready_pings_the_watchdog_and_stopping(notify_socket):
    sock, path = notify_socket
    messages, done = [], threading.Event()

    def systemd():  # reads as it comes, like systemd
        sock.settimeout(0.1)
        while not done.is_set():
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                pass

    reader = threading.Thread(target=systemd)
    reader.start()
    with running_dmsd(
        "--source", str(CLIP), "--no-mqtt", "--max-frames", "60", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
    ) as daemon:  # ping every 0.1 s
        stdout, stderr = daemon.communicate(timeout=60)
    done.set()
    reader.join()
    assert daemon.returncode == 0, stderr
    assert messages[0].startswith("READY=1\nSTATUS=running on ")
    assert messages.count("WATCHDOG=1") >= 2
    assert messages[-1] == "STOPPING=1"


def test_abstract_socket():
    name = f"dmsd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready("testing")
        assert collect(sock) == ["READY=1\nSTATUS=testing"]
    finally:
        sock.close()


def test_watchdog_only_for_our_pid_and_rate_limited(notify_socket):
    sock, path = notify_socket
    other = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    other.watchdog()
    ours = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())})
    for _ in range(5):
        ours.watchdog()
    assert collect(sock) == ["WATCHDOG=1"]


def test_a_full_queue_never_blocks_the_watchdog(notify_socket):
    sock, path = notify_socket  # nobody reads: the kernel queue fills after a few datagrams
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2"})
    import time

    started = time.monotonic()
    for _ in range(200):
        notifier._last_ping = 0
        notifier.watchdog()
    assert time.monotonic() - started < 1.0


def test_no_socket_means_silence():
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.notify("READY=1") is False


def test_vanished_socket_is_logged_not_raised(tmp_path, caplog):
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.notify("READY=1") is False
    assert "sd_notify" in caplog.text


def test_ready_says_so_when_the_camera_is_absent(notify_socket, tmp_path):
    """A camera that is not there at boot: READY with a STATUS that says we are waiting, then camera_lost."""
    import json
    import signal
    import time

    from harness import free_port, write_config

    sock, path = notify_socket
    config = write_config(
        tmp_path / "c.yaml", "source:\n  stall_timeout_s: 1.0\n  reopen_max_s: 0.5\nmqtt:\n  enabled: false\n"
    )
    url = f"http://127.0.0.1:{free_port()}/nothing.mjpg"  # nobody serves this
    with running_dmsd("--config", str(config), "--source", url, "--print", env={"NOTIFY_SOCKET": path}) as daemon:
        time.sleep(4)
        daemon.send_signal(signal.SIGTERM)
        stdout, stderr = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, stderr
    assert collect(sock)[0] == f"READY=1\nSTATUS=waiting for {url}: no frames yet, retrying"
    lines = [json.loads(line) for line in stdout.splitlines()]
    events = [line["payload"]["type"] for line in lines if line["topic"].endswith("/events")]
    assert events == ["camera_lost"]
