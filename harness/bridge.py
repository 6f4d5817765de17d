"""The fleet uplink between two real brokers: the repository's Mosquitto bridge file (fleet/mosquitto-bridge.conf)
in the vehicle's broker, carrying dms/# to a fleet broker that asks for TLS and a password."""

from __future__ import annotations

import re
from pathlib import Path

from harness.mqtt import Broker, secured_broker
from harness.paths import ROOT

BRIDGE = ROOT / "fleet" / "mosquitto-bridge.conf"
# Who may connect to the fleet broker: the vehicle's bridge, and a dashboard that reads what arrives.
FLEET_USERS = {"vehicle-0001": "uplink-secret", "dashboard": "dash-secret"}


def fleet_broker(workdir: Path) -> Broker:
    """The fleet end (not started): TLS (its CA is workdir/ca.crt) and FLEET_USERS' passwords, nobody else."""
    workdir.mkdir()
    return secured_broker(workdir, users=FLEET_USERS, tls=True)


def vehicle_broker(workdir: Path, fleet: Broker) -> Broker:
    """The in-vehicle end (not started): the shipped bridge file with only its CHANGE values filled in, to `fleet`."""
    workdir.mkdir()
    text = BRIDGE.read_text()
    for key, value in {
        "address": f"127.0.0.1:{fleet.port}",
        "remote_password": FLEET_USERS["vehicle-0001"],
        "bridge_cafile": str(fleet.workdir / "ca.crt"),
        "restart_timeout": "1 1",
    }.items():
        text, n = re.subn(rf"^{key} .*$", f"{key} {value}", text, flags=re.M)
        if n != 1:
            raise ValueError(f"{BRIDGE}: expected one `{key}` line, found {n}")
    return Broker(workdir, extra_config="allow_anonymous true\n" + text)
