"""Frame sources against real streams and files: stalls, disappearance, reconnects, drops."""

import itertools
import json
import signal
import time

import pytest

from dmsd.config import SourceConfig
from dmsd.errors import DmsdError
from dmsd.frames.sources import DirectorySource, EndOfSource, LiveSource, VideoFileSource, make_source
from harness import CLIP, SAMPLES, MjpegCamera, run_dmsd, running_dmsd, write_config


@pytest.fixture
def camera():
    cam = MjpegCamera(SAMPLES / "cabin_frame060.jpg", fps=10).start()
    yield cam
    cam.stop()


def read_some(source, n, timeout=10):
    frames, deadline = [], time.monotonic() + timeout
    while len(frames) < n and time.monotonic() < deadline:
        frame = source.read(0.2)
        if frame is not None:
            frames.append(frame)
    return frames


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_live_stream_stall_is_noticed_and_recovers(camera):
    source = LiveSource(
        camera.url, SourceConfig(uri=camera.url, stall_timeout_s=1.0, reopen_min_s=0.2, reopen_max_s=0.5)
    )
    source.open()
    try:
        assert len(read_some(source, 5)) == 5 and source.healthy
        camera.paused = True
        # Noticed within the stall timeout (1 s), with some slack for a loaded machine.
        started = time.monotonic()
        while source.healthy:
            source.read(0.1)
            assert time.monotonic() - started < 3
        camera.paused = False
        assert wait_until(lambda: source.read(0.2) is not None and source.healthy, 15)
    finally:
        source.close()


def test_live_stream_that_disappears_is_reopened(camera):
    source = LiveSource(
        camera.url, SourceConfig(uri=camera.url, stall_timeout_s=1.0, reopen_min_s=0.2, reopen_max_s=0.5)
    )
    source.open()
    try:
        assert len(read_some(source, 3)) == 3
        camera.stop()
        assert wait_until(lambda: source.read(0.1) is None and not source.healthy, 5)
        time.sleep(1.0)  # a few failed reopen attempts
        camera.start()  # same port
        assert wait_until(lambda: source.read(0.2) is not None, 20)
        assert source.healthy
    finally:
        source.close()


def test_live_source_keeps_the_newest_frame_and_counts_drops(camera):
    source = LiveSource(camera.url, SourceConfig(uri=camera.url))
    source.open()
    try:
        first = read_some(source, 1)[0]
        time.sleep(1.0)  # a slow consumer: ~10 frames arrive meanwhile
        newest = source.read(1.0)
        assert newest.index - first.index >= 5
        assert source.dropped >= newest.index - first.index - 2
    finally:
        source.close()


def test_daemon_reports_camera_lost_and_restored(camera, tmp_path):
    config = write_config(
        tmp_path / "c.yaml",
        "source:\n  stall_timeout_s: 1.0\n  reopen_min_s: 0.2\n  reopen_max_s: 0.5\nmqtt:\n  enabled: false\n",
    )
    with running_dmsd("--config", str(config), "--source", camera.url, "--print") as daemon:
        time.sleep(4)
        camera.stop()
        time.sleep(4)
        camera.start()
        time.sleep(6)
        daemon.send_signal(signal.SIGTERM)
        stdout, stderr = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    events = [r["payload"]["type"] for r in records if r["topic"].endswith("/events")]
    assert "camera_lost" in events and "camera_restored" in events
    assert events.index("camera_lost") < events.index("camera_restored")
    states = [r["payload"] for r in records if r["topic"].endswith("/state")]
    assert any(s["camera"] == "lost" and s["seatbelt"] is None and s["driver_present"] is None for s in states)


def test_video_file_reads_every_frame_in_order():
    source = VideoFileSource(str(CLIP), SourceConfig(uri=str(CLIP)))
    source.open()
    indices = []
    with pytest.raises(EndOfSource):
        while True:
            indices.append(source.read(0).index)
    assert indices == list(range(150))
    source.close()


def test_looped_file_and_directory_start_again_with_times_going_on():
    source = VideoFileSource(str(CLIP), SourceConfig(uri=str(CLIP), loop=True))
    source.open()
    frames = [source.read(0) for _ in range(320)]
    assert [f.index for f in frames] == list(range(320))
    assert (frames[150].image == frames[0].image).all() and (frames[300].image == frames[0].image).all()
    assert all(b.ts > a.ts for a, b in itertools.pairwise(frames))
    source.close()
    stills = DirectorySource(str(SAMPLES), SourceConfig(uri=str(SAMPLES), loop=True))
    stills.open()
    names = [stills.read(0).name for _ in range(9)]
    assert names[:4] == names[4:8] and len(set(names[:4])) == 4


def test_daemon_loops_a_file_with_loop():
    result = run_dmsd("--source", str(CLIP), "--loop", "--max-frames", "160", "--no-mqtt", "--print")
    assert result.returncode == 0, result.stderr
    stats = [json.loads(line)["payload"] for line in result.stdout.splitlines() if '/stats"' in line]
    assert stats[-1]["frames"] == 160  # past the clip's 150


def test_video_file_realtime_is_paced():
    source = VideoFileSource(str(CLIP), SourceConfig(uri=str(CLIP), realtime=True))
    source.open()
    started = time.monotonic()
    for _ in range(15):
        source.read(0)
    # 15 frames at ~7 fps is about 2 s; read flat out it would take a fraction of that.
    assert time.monotonic() - started > 1.5
    source.close()


def test_directory_skips_unreadable_images_and_says_so(tmp_path, caplog):
    (tmp_path / "a.jpg").write_bytes((SAMPLES / "cabin_frame010.jpg").read_bytes())
    (tmp_path / "b.jpg").write_bytes(b"broken")
    (tmp_path / "c.jpg").write_bytes((SAMPLES / "cabin_frame060.jpg").read_bytes())
    source = DirectorySource(str(tmp_path), SourceConfig(uri=str(tmp_path)))
    source.open()
    names = [source.read(0).name, source.read(0).name]
    with pytest.raises(EndOfSource):
        source.read(0)
    assert names == ["a.jpg", "c.jpg"] and source.unreadable == 1
    assert "b.jpg" in caplog.text and "1 unreadable image(s) skipped in all" in caplog.text


@pytest.mark.parametrize(
    "uri, message",
    [
        ("/nonexistent/clip.mp4", "no such file or directory"),
    ],
)
def test_bad_source_uri(uri, message):
    with pytest.raises(DmsdError, match=message):
        make_source(SourceConfig(uri=uri))


def test_cli_bad_source_is_one_line():
    from harness import run_dmsd

    result = run_dmsd("--source", "/nonexistent/clip.mp4", "--no-mqtt")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dmsd: source /nonexistent/clip.mp4: no such file or directory "
        "(source.uri takes a camera index, /dev/videoN, a video file, "
        "an rtsp:// or http(s):// URL, or a directory of images)"
    ]


def test_not_a_video_file(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_text("not a video")
    source = make_source(SourceConfig(uri=str(path)))
    with pytest.raises(DmsdError, match="cannot open as a video file|no frames could be decoded"):
        source.open()
        source.read(0)
