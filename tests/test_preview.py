"""The preview page: served by the daemon and by `dmsd preview` on the bundled clip, read over real HTTP (the page,
the MJPEG picture, the state) and in headless Chromium; bounded viewers; a password off the loopback address."""

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from harness import CLIP, ROOT, LineReader, free_port, run_dmsd, start_dmsd, write_config


def get(url, auth=None, timeout=5.0):
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    return urllib.request.urlopen(request, timeout=timeout)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def first_pictures(url, count, auth=None):
    """The first `count` JPEGs of an MJPEG stream, decoded."""
    stream = get(url + "/stream.mjpg", auth, timeout=15.0)
    assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
    pictures, buffer = [], b""
    while len(pictures) < count:
        buffer += stream.read1(65536)
        start, end = buffer.find(b"\xff\xd8"), buffer.find(b"\xff\xd9")
        if start >= 0 and end > start:
            pictures.append(cv2.imdecode(np.frombuffer(buffer[start : end + 2], np.uint8), cv2.IMREAD_COLOR))
            buffer = buffer[end + 2 :]
    stream.close()
    return pictures


@pytest.fixture
def preview(tmp_path):
    """`dmsd preview` on the bundled clip (played in a loop), on a free local port."""
    port = free_port()
    process = start_dmsd("preview", "--source", str(CLIP), "--listen", f"127.0.0.1:{port}", cwd=ROOT)
    log = LineReader(process, stream="stderr")
    log.wait(lambda lines: any("preview: serving http://127.0.0.1" in line for line in lines), timeout=30)
    yield f"http://127.0.0.1:{port}", log
    process.terminate()
    process.wait(timeout=20)


def test_the_page_the_picture_and_the_state(preview):
    url, log = preview
    page = get(url + "/").read().decode()
    assert "<title>dmsd preview</title>" in page and 'src="stream.mjpg"' in page
    assert "http://" not in page and "https://" not in page  # nothing from the internet: it works offline
    pictures = first_pictures(url, 3)
    assert all(p.shape == (336, 450, 3) for p in pictures)  # the clip's own frames, drawn on
    snapshot = wait_for(lambda: (d := json.loads(get(url + "/state.json").read())) and d["events"] and d)
    assert snapshot["state"]["face"]["box"] and snapshot["state"]["camera"] == "ok"
    assert "driver_present" in [e["type"] for e in snapshot["events"]]
    assert snapshot["preview"]["picture_size"] == [450, 336] and snapshot["preview"]["max_viewers"] == 2
    assert snapshot["analysis"]["fps"] > 0 and snapshot["analysis"]["latency_ms"]["total"] > 0


def test_viewers_are_bounded(preview):
    url, _ = preview
    streams = [get(url + "/stream.mjpg", timeout=15.0) for _ in range(2)]
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(url + "/stream.mjpg")
    assert refused.value.code == 503
    for stream in streams:
        stream.close()
    wait_for(lambda: json.loads(get(url + "/state.json").read())["preview"]["viewers"] == 0)
    assert first_pictures(url, 1)  # a place freed is taken again


def test_off_the_loopback_address_a_password_is_needed(tmp_path):
    refused = run_dmsd("preview", "--source", str(CLIP), "--listen", "0.0.0.0:18097")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (
        "dmsd preview: preview.listen 0.0.0.0:18097: not a loopback address, so preview.password is needed "
        "(viewers log in as dmsd), or listen on 127.0.0.1"
    )
    config = write_config(tmp_path / "c.yaml", "preview:\n  enabled: true\n  listen: 0.0.0.0:18097\n")
    daemon = run_dmsd("--config", str(config), "--source", str(CLIP), "--no-mqtt")
    assert daemon.returncode == 2 and daemon.stderr.strip().startswith(f"dmsd: {config}: preview.listen 0.0.0.0:18097")


def test_the_daemon_serves_the_page_with_a_password(tmp_path):
    port = free_port()
    config = write_config(
        tmp_path / "c.yaml",
        f"preview:\n  enabled: true\n  listen: 0.0.0.0:{port}\n  password: fit-the-cam\n  max_viewers: 1\n",
    )
    process = start_dmsd("--config", str(config), "--source", str(CLIP), "--no-mqtt", "--loop", "--realtime", cwd=ROOT)
    log = LineReader(process, stream="stderr")
    try:
        log.wait(lambda lines: any("to the network, password required (user dmsd)" in x for x in lines), timeout=30)
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as no_password:
            get(url + "/state.json")
        assert no_password.value.code == 401 and "Basic" in no_password.value.headers["WWW-Authenticate"]
        with pytest.raises(urllib.error.HTTPError):
            get(url + "/state.json", auth="dmsd:wrong")
        assert first_pictures(url, 2, auth="dmsd:fit-the-cam")[0].shape == (336, 450, 3)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert not list(tmp_path.glob("*.jp*g"))  # no frame written anywhere it ran


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)")
def test_the_page_in_headless_chromium(preview, tmp_path_factory):
    """The page as a browser shows it: the picture at the clip's size, the state with a face box, an event listed;
    a screenshot is kept as an artifact of the run (pytest's basetemp), never in the repository."""
    url, _ = preview
    wait_for(lambda: json.loads(get(url + "/state.json").read())["events"])
    out = tmp_path_factory.mktemp("chromium")
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={out / 'profile'}"]
    common += ["--virtual-time-budget=4000", "--window-size=1280,900"]
    dom = subprocess.run([*common, "--dump-dom", url + "/"], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="picture-size">450x336<' in dom.stdout
    assert '"box": [' in dom.stdout.replace("\n", " ") or '"box":[' in dom.stdout
    assert 'class="event"' in dom.stdout and "driver_present" in dom.stdout
    assert 'id="fps">?<' not in dom.stdout and 'id="camera" class="good">ok<' in dom.stdout
    shot = out / "preview.png"
    subprocess.run([*common, f"--screenshot={shot}", url + "/"], capture_output=True, timeout=90)
    assert shot.is_file() and cv2.imread(str(shot)).shape[:2] == (900, 1280)


def test_a_bad_or_busy_address_is_one_line():
    import socket

    bad = run_dmsd("preview", "--source", str(CLIP), "--listen", "nonsense")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "dmsd preview: preview.listen: 'nonsense' is not allowed (allowed: HOST:PORT, e.g. 127.0.0.1:8090)"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_dmsd("preview", "--source", str(CLIP), "--listen", f"127.0.0.1:{port}")
    assert busy.returncode == 2 and "Traceback" not in busy.stderr
    assert busy.stderr.strip().splitlines()[-1] == (
        f"dmsd preview: preview.listen 127.0.0.1:{port}: cannot serve there (Address already in use)"
    )
