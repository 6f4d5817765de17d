"""The fleet uplink: the repository's Mosquitto bridge configuration between two real brokers, the fleet's over TLS
with a password. Events flow while the uplink is cut and restored, and wait out a restart of the vehicle's broker."""

import time

from test_daemon_mqtt import alternating_frames

from harness import fleet_broker, printed_events, run_dmsd, running_dmsd, vehicle_broker, write_config


def test_the_shipped_bridge_carries_every_event_through_uplink_cuts_and_a_vehicle_broker_restart(tmp_path, subscribe):
    fleet = fleet_broker(tmp_path / "fleet").start()
    vehicle = vehicle_broker(tmp_path / "vehicle", fleet).start()
    dashboard = subscribe(
        fleet, "dms/#", username="dashboard", password="dash-secret", ca_certs=str(fleet.workdir / "ca.crt")
    )
    try:
        dashboard.wait_for(
            lambda m: any(t == "dms/bridge/dmsd-bridge-vehicle-0001/state" and p == b"1" for t, p, _ in m), timeout=20
        )  # the uplink is up
        frames = alternating_frames(tmp_path / "frames", seconds_each=1.0, fps=5, cycles=6)  # an event a second
        config = write_config(
            tmp_path / "c.yaml",
            (
                "device_id: fleet-car\nsource:\n  fps: 5\n  realtime: true\n"
                "state:\n  absent_after_s: 0.5\n  emotion_hold_s: 0.2\n  seatbelt_debounce_s: 0.2\n"
            ),
        )
        with running_dmsd(
            "--config", str(config), "--source", str(frames), "--mqtt", vehicle.address, "--print"
        ) as daemon:
            for _ in range(2):  # the uplink cut and restored while events flow
                time.sleep(2)
                fleet.stop()
                time.sleep(2)
                fleet.start()
            stdout, stderr = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, stderr
        raised = printed_events(stdout.splitlines())
        assert len(raised) >= 8
        dashboard.wait_for(lambda m: len(dashboard.payloads("events")) >= len(raised), timeout=60)
        assert dashboard.payloads("events") == raised

        # Uplink down, events queued in the vehicle's broker, which then restarts (its database kept), then the
        # uplink comes back: they arrive.
        fleet.stop()
        result = run_dmsd(
            "--config", str(config), "--source", str(frames), "--max-frames", "12", "--mqtt", vehicle.address, "--print"
        )
        assert result.returncode == 0, result.stderr
        queued = printed_events(result.stdout.splitlines())
        assert queued
        vehicle.stop()
        vehicle.start()
        fleet.start()
        dashboard.wait_for(lambda m: len(dashboard.payloads("events")) >= len(raised) + len(queued), timeout=60)
        time.sleep(1)
        assert dashboard.payloads("events") == raised + queued
    finally:
        vehicle.stop()
        fleet.stop()
