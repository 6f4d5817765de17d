"""Test fixtures: real components only (the harness package: a Mosquitto broker process per test session, on a
free port; the real dmsd command line; an MJPEG camera)."""

from __future__ import annotations

import pytest

from harness import CLIP, Broker, Subscriber


@pytest.fixture(scope="session")
def clip_frames():
    """The bundled clip's 150 frames, grey."""
    import cv2

    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path):
    """A broker this test may stop and restart."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    b = Broker(workdir).start()
    yield b
    b.stop()


@pytest.fixture
def subscribe():
    made = []

    def factory(broker: Broker, topic: str, **credentials) -> Subscriber:
        made.append(Subscriber(broker, topic, **credentials))
        return made[-1]

    yield factory
    for s in made:
        s.close()
