"""MQTT over TLS against a real Mosquitto TLS listener with certificates made by openssl (harness.tls)."""

import json

import pytest

from harness import CLIP, Subscriber, run_dmsd, secured_broker, write_config


@pytest.fixture
def tls_broker(tmp_path):
    workdir = tmp_path / "tls-broker"
    workdir.mkdir()
    b = secured_broker(workdir, tls=True).start()  # anyone may connect, over TLS only
    yield b
    b.stop()


def test_events_over_tls(tls_broker, tmp_path):
    certs = tls_broker.workdir
    config = write_config(
        tmp_path / "c.yaml",
        f"device_id: tls-car\nmqtt:\n  host: 127.0.0.1\n"
        f"  port: {tls_broker.port}\n  tls:\n    enabled: true\n"
        f"    ca_certs: {certs / 'ca.crt'}\n",
    )
    with Subscriber(tls_broker, "dms/tls-car/events", ca_certs=str(certs / "ca.crt")) as dashboard:
        result = run_dmsd("--config", str(config), "--source", str(CLIP), "--max-frames", "40", "--print")
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        expected = [line["payload"] for line in lines if "/events" in line["topic"]]
        received = dashboard.wait_for_events(len(expected))
    assert result.returncode == 0, result.stderr
    assert expected and received == expected


def test_untrusted_broker_certificate_is_refused_and_logged(tls_broker, tmp_path):
    config = write_config(
        tmp_path / "c.yaml",
        f"mqtt:\n  host: 127.0.0.1\n  port: {tls_broker.port}\n"
        f"  drain_timeout_s: 1\n  tls:\n    enabled: true\n"
        f"    ca_certs: {tls_broker.workdir / 'other.crt'}\n",
    )
    result = run_dmsd("--config", str(config), "--source", str(CLIP), "--max-frames", "20")
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert "cannot reach broker" in result.stderr and "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert "event(s) not delivered" in result.stderr
