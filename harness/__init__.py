"""The test harness, for the tests and the measurement scripts alike: real brokers, the real dmsd command line, a
real MJPEG camera, and where the data is. Not part of the installed package."""

from harness.dmsd import LineReader, dmsd_env, printed_events, run_dmsd, running_dmsd, start_dmsd, write_config
from harness.mjpeg import MjpegCamera
from harness.mqtt import Broker, EventListener, Subscriber, free_port, mosquitto_binary
from harness.paths import CLIP, ROOT, SAMPLES, SHARED

__all__ = [
    "CLIP",
    "ROOT",
    "SAMPLES",
    "SHARED",
    "Broker",
    "EventListener",
    "LineReader",
    "MjpegCamera",
    "Subscriber",
    "dmsd_env",
    "free_port",
    "mosquitto_binary",
    "printed_events",
    "run_dmsd",
    "running_dmsd",
    "start_dmsd",
    "write_config",
]
