"""The test harness, for the tests and the measurement scripts alike: real brokers (plain, with passwords and TLS,
and the fleet bridge between two), a recording MQTT client, the real dmsd command line, a real MJPEG camera, and
where the data is. Not part of the installed package."""

from harness.bridge import fleet_broker, vehicle_broker
from harness.dmsd import LineReader, dmsd_env, printed_events, run_dmsd, running_dmsd, start_dmsd, write_config
from harness.mjpeg import MjpegCamera
from harness.mqtt import Broker, Subscriber, free_port, mosquitto_binary, password_file, secured_broker
from harness.paths import CLIP, ROOT, SAMPLES, SHARED
from harness.tls import make_certificates

__all__ = [
    "CLIP",
    "ROOT",
    "SAMPLES",
    "SHARED",
    "Broker",
    "LineReader",
    "MjpegCamera",
    "Subscriber",
    "dmsd_env",
    "fleet_broker",
    "free_port",
    "make_certificates",
    "mosquitto_binary",
    "password_file",
    "printed_events",
    "run_dmsd",
    "running_dmsd",
    "secured_broker",
    "start_dmsd",
    "vehicle_broker",
    "write_config",
]
