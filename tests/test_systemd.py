"""The systemd unit: what it must say, and systemd's own verdict on it where systemd-analyze is installed."""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT

UNIT = ROOT / "systemd" / "dmsd.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNIT)
    return parser


def test_notify_watchdog_restart():
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"


def test_unprivileged_with_the_camera_and_hardened():
    service = unit()["Service"]
    assert service["User"] == "dmsd" and "video" in service["SupplementaryGroups"].split()
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "DevicePolicy": "closed",
        "DeviceAllow": "char-video4linux rw",
    }.items():
        assert service[key] == value, key
    assert "PrivateDevices" not in service  # it would hide /dev/video*
    assert service["StateDirectory"] == "dmsd"  # /var/lib/dmsd: the MQTT outbox
    assert service["MemoryDenyWriteExecute"] == "yes" and service["SystemCallErrorNumber"] == "EPERM"
    assert "AF_UNIX" in service["RestrictAddressFamilies"]  # the notify socket


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path):
    # Point ExecStart at the dmsd this test session runs, so verify checks everything else.
    dmsd = Path(sys.executable).parent / "dmsd"
    text = UNIT.read_text().replace("/opt/dmsd/.venv/bin/dmsd", str(dmsd))
    copy = tmp_path / "dmsd.service"
    copy.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    complaints = [line for line in result.stderr.splitlines() if "dmsd.service" in line]
    assert complaints == [] and result.returncode == 0, result.stderr
