"""MQTT over TLS against a real Mosquitto TLS listener with certificates made by openssl."""

import json
import subprocess

import pytest

from harness import CLIP, Broker, EventListener, run_dmsd, write_config


def make_certificates(folder):
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{folder}/ca.key",
        "-out",
        f"{folder}/ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=dmsd-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{folder}/server.key",
        "-out",
        f"{folder}/server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        f"{folder}/server.csr",
        "-CA",
        f"{folder}/ca.crt",
        "-CAkey",
        f"{folder}/ca.key",
        "-CAcreateserial",
        "-out",
        f"{folder}/server.crt",
        "-days",
        "1",
        "-extfile",
        f"{folder}/san.ext",
    )
    # a second CA that did not sign the server's certificate
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{folder}/other.key",
        "-out",
        f"{folder}/other.crt",
        "-days",
        "1",
        "-subj",
        "/CN=someone-else",
    )


@pytest.fixture
def tls_broker(tmp_path):
    workdir = tmp_path / "tls-broker"
    workdir.mkdir()
    make_certificates(workdir)
    b = Broker(
        workdir,
        extra_config=f"allow_anonymous true\ncafile {workdir}/ca.crt\n"
        f"certfile {workdir}/server.crt\nkeyfile {workdir}/server.key\n",
    ).start()
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
    with EventListener(tls_broker, "dms/tls-car/events", ca_certs=str(certs / "ca.crt")) as dashboard:
        result = run_dmsd("--config", str(config), "--source", str(CLIP), "--max-frames", "40", "--print")
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        expected = [line["payload"] for line in lines if "/events" in line["topic"]]
        received = dashboard.wait_for_count(len(expected))
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
