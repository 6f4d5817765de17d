"""The preview page: served by the daemon and by `dmsd preview` on the bundled clip, read over real HTTP (the page,
the MJPEG picture, the state) and in headless Chromium (the readouts, the picture scaled to the window, the raw JSON
one click away); bounded viewers; a password off the loopback address. What the picture has drawn on it (which
finder found the face, since when and why there is none), on real frames."""

import base64
import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import replace
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest

from dmsd.config import Config
from dmsd.publish.annotate import draw, no_face_text, sizes, text_width, wrap
from dmsd.vision.analyzer import Analyzer
from harness import CLIP, ROOT, SAMPLES, LineReader, free_port, run_dmsd, start_dmsd, write_config


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


@contextlib.contextmanager
def serving(source):
    """`dmsd preview` on `source` (a file plays in a loop), on a free local port: its URL and its log."""
    port = free_port()
    process = start_dmsd("preview", "--source", str(source), "--listen", f"127.0.0.1:{port}", cwd=ROOT)
    try:
        log = LineReader(process, stream="stderr")
        log.wait(lambda lines: any("preview: serving http://127.0.0.1" in line for line in lines), timeout=30)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def preview(tmp_path):
    """`dmsd preview` on the bundled clip (played in a loop), on a free local port."""
    with serving(CLIP) as served:
        yield served


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
        "dmsd preview: --listen: preview.listen 0.0.0.0:18097: not a loopback address, so preview.password is needed "
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
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)"
)
VOID = {"img", "meta", "br", "hr", "input", "link", "source", "wbr"}


class Page(HTMLParser):
    """The page as Chromium left it (--dump-dom): each element with an id, its attributes, its text, the ids above it,
    and each readout's value and detail."""

    def __init__(self, dom: str):
        super().__init__()
        self.attrs: dict[str, dict] = {}
        self.text: dict[str, str] = {}
        self.parents: dict[str, list[str]] = {}
        self.readouts: dict[str, dict[str, str]] = {}
        self.stack: list[tuple[str | None, str]] = []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        found = {k: v or "" for k, v in attrs}
        if "id" in found:
            self.attrs[found["id"]], self.text[found["id"]] = found, ""
            self.parents[found["id"]] = [i for i, _ in self.stack if i]
            if "readout" in found.get("class", "").split():
                self.readouts[found["id"].removeprefix("r-")] = {"value": "", "detail": "", "class": found["class"]}
        if tag not in VOID:
            self.stack.append((found.get("id"), found.get("class", "")))

    def handle_endtag(self, tag):
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for element, _ in self.stack:
            if element:
                self.text[element] += data
        part = self.stack[-1][1] if self.stack else ""
        owner = next((i for i, _ in reversed(self.stack) if i), "")
        if part in ("value", "detail") and owner.removeprefix("r-") in self.readouts:
            self.readouts[owner.removeprefix("r-")][part] += data


def in_chromium(url, out, width, height, screenshot=None):
    """The page in headless Chromium at this window size, after 4 s of the page's time: its DOM, parsed; and a
    screenshot when asked (kept under pytest's basetemp, never in the repository)."""
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={out / 'profile'}"]
    common += ["--virtual-time-budget=4000", f"--window-size={width},{height}"]
    dom = subprocess.run([*common, "--dump-dom", url + "/"], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    if screenshot is not None:
        subprocess.run([*common, f"--screenshot={screenshot}", url + "/"], capture_output=True, timeout=90)
        assert screenshot.is_file() and cv2.imread(str(screenshot)).shape[:2] == (height, width)
    return dom.stdout, Page(dom.stdout)


def shown_size(page):
    width, height = page.text["picture-shown"].split("x")
    return int(width), int(height)


@needs_chromium
def test_the_page_in_headless_chromium(preview, tmp_path_factory):
    """The page as a browser shows it: the picture at the clip's size, scaled to the window; labelled readouts with
    the clip's real values (what found the face, the belt's verdict, the eyes, the head, drowsiness, attention);
    the raw JSON one click away; an event listed. A screenshot is kept as an artifact of the run."""
    url, _ = preview
    blocks = ("tracking", "seatbelt", "eyes", "head", "drowsiness", "attention")
    wait_for(
        lambda: (d := json.loads(get(url + "/state.json").read()))["events"] and all(d["state"][b] for b in blocks)
    )
    out = tmp_path_factory.mktemp("chromium")
    dom, page = in_chromium(url, out, 1280, 900, screenshot=out / "preview.png")
    assert 'id="picture-size">450x336<' in dom
    assert 'class="event"' in dom and "driver_present" in dom
    assert 'id="fps">?<' not in dom and 'id="camera" class="good">ok<' in dom
    readouts = page.readouts
    assert re.fullmatch(r"found by (haar|blazeface|mesh)", readouts["face"]["value"]), readouts["face"]
    assert "ok" in readouts["face"]["class"].split()
    assert readouts["belt"]["value"] in ("worn", "not worn")
    assert re.fullmatch(r"confidence 0\.\d\d|confidence 1\.00", readouts["belt"]["detail"])
    assert readouts["eyes"]["value"] in ("open", "closed", "unseen") and "PERCLOS" in readouts["eyes"]["detail"]
    assert re.fullmatch(r"jaw [01]\.\d\d", readouts["mouth"]["value"]), readouts["mouth"]  # the blendshapes
    assert "blink L" in readouts["mouth"]["detail"] and "blink" in readouts["eyes"]["detail"]
    assert re.fullmatch(r"yaw -?\d+\u00b0 pitch -?\d+\u00b0", readouts["head"]["value"]), readouts["head"]
    assert re.match(r"(on|OFF) the road", readouts["head"]["detail"])
    assert readouts["drowsiness"]["value"] in ("alert", "drowsy", "asleep")
    assert re.match(r"attentive|distracted", readouts["attention"]["value"])
    assert "hidden" in page.attrs["r-phone"]  # phone use is not looked for by default
    for name in ("face", "eyes", "mouth", "head", "belt", "drowsiness", "attention", "emotion"):
        assert readouts[name]["value"].strip(), name  # a value or "unknown", never blank
    # The raw JSON: the state, inside a closed <details> whose <summary> opens it (one click).
    assert "raw" in page.parents["state"] and "open" not in page.attrs["raw"]
    assert re.search(r'<details id="raw"><summary>[^<]+</summary><pre id="state">', dom)
    assert json.loads(page.text["state"])["face"]["box"]
    # The picture scaled to the window: up from 450 wide here, aspect kept, within the window's height.
    width, height = shown_size(page)
    assert 450 < width < 1280 and height <= 900 and abs(width / height - 450 / 336) < 0.03


@needs_chromium
def test_the_picture_fits_a_narrow_or_a_short_window(preview, tmp_path_factory):
    """Narrow (500 wide: headless Chromium's narrowest), the picture is no wider than the window; short, it shrinks
    below its own size to fit the window's height. Its aspect is kept either way."""
    url, _ = preview
    wait_for(lambda: json.loads(get(url + "/state.json").read())["events"])
    out = tmp_path_factory.mktemp("chromium")
    for window in ((500, 800), (1280, 360)):
        _, page = in_chromium(url, out, *window)
        width, height = shown_size(page)
        assert 0 < width <= window[0] and height <= window[1] and abs(width / height - 450 / 336) < 0.03, window
    assert width < 450  # the short window: scaled down to fit its height


@needs_chromium
def test_the_page_says_since_when_and_why_the_face_is_lost(tmp_path, tmp_path_factory):
    """A source with no face: the Face readout says how long ago it was lost and why, styled as an alarm."""
    folder = tmp_path / "empty_cabin"
    folder.mkdir()
    shutil.copy(SAMPLES / "cabin_noface.jpg", folder)
    with serving(folder) as (url, _):
        wait_for(lambda: json.loads(get(url + "/state.json").read())["state"])
        snapshot = json.loads(get(url + "/state.json").read())
        assert snapshot["analysis"]["tracking"]["lost_why"] == "no detector found a face"
        assert snapshot["analysis"]["ts"] >= snapshot["analysis"]["tracking"]["lost_since"]
        _, page = in_chromium(url, tmp_path_factory.mktemp("chromium"), 1000, 700)
    face = page.readouts["face"]
    assert re.fullmatch(r"lost \d+\.\d s ago", face["value"]) and face["detail"] == "no detector found a face"
    assert "alarm" in face["class"].split()
    assert page.readouts["belt"]["value"] == "unknown" and page.readouts["eyes"]["value"] == "unknown"


def test_a_bad_or_busy_address_is_one_line():
    import socket

    bad = run_dmsd("preview", "--source", str(CLIP), "--listen", "nonsense")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "dmsd preview: --listen: preview.listen: 'nonsense' is not allowed (allowed: HOST:PORT, e.g. 127.0.0.1:8090)"
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


# -- what is drawn on the picture (the preview's and `--once --annotate`'s) --------------------------------------


@pytest.fixture(scope="module")
def still_analyzer():
    return Analyzer.from_config(Config(), video=False)


def changed(a, b):
    """Where two drawings of the same frame differ clearly."""
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 100


@pytest.mark.parametrize("size", [None, (1920, 1440)], ids=["450x336", "1920x1440"])
def test_annotate_draws_which_finder_found_the_face(still_analyzer, size):
    """Beside the face box, at the top, the finder's name: a real frame, drawn as found (haar) and as if the mesh
    had followed it; only the finder's line differs, right of the box, in letters that grow with the frame."""
    frame = cv2.imread(str(SAMPLES / "cabin_frame060.jpg"))
    if size is not None:
        frame = cv2.resize(frame, size)
    result = still_analyzer.analyze(frame, "cabin_frame060.jpg", 100.0)
    assert result.face is not None and result.track is not None and result.track.found_by in ("haar", "blazeface")
    found = draw(frame, result, still_analyzer)
    followed = draw(frame, replace(result, track=replace(result.track, found_by="mesh")), still_analyzer)
    unnamed = draw(frame, replace(result, track=None), still_analyzer)
    x, y, w, h = result.face.as_list()
    rows, columns = np.nonzero(changed(found, followed))
    assert len(rows) > 20
    assert columns.min() > x + w and columns.max() < frame.shape[1]  # beside the box, within the picture
    assert rows.min() >= y - 2 and rows.max() <= y + h // 2  # the first line, at the box's top
    assert not changed(found, followed)[:, : x + w].any()  # nothing else moved
    assert changed(found, unnamed)[rows.min() : rows.max() + 1, x + w :].sum() > 20
    letters = rows.max() - rows.min()
    assert letters >= 8 if size is None else letters >= 30  # legible on a small frame, grown on a large one


def test_annotate_says_since_when_and_why_there_is_no_face(tmp_path):
    """A real frame with no face, twice: the first says why, the second (1.2 s later on the frame clock) since when;
    the text is wrapped to the frame (170 wide here) and drawn at the top left."""
    analyzer = Analyzer.from_config(Config(), video=True)
    frame = cv2.imread(str(SAMPLES / "cabin_noface.jpg"))
    first = analyzer.analyze(frame, "cabin_noface.jpg", 100.0)
    later = analyzer.analyze(frame, "cabin_noface.jpg", 101.2)
    assert first.face is None and later.face is None
    assert no_face_text(first) == "no face: no detector found a face"
    assert no_face_text(later) == "no face for 1.2 s: no detector found a face"
    drawn, undrawn = draw(frame, later, analyzer), frame
    thickness, scale = sizes(frame.shape[1])
    lines = wrap(no_face_text(later), frame.shape[1] - 20, scale, thickness)
    assert len(lines) > 1 and all(text_width(line, scale, thickness) <= frame.shape[1] - 20 for line in lines)
    rows, columns = np.nonzero(changed(drawn, undrawn))
    assert rows.max() < frame.shape[0] // 2 and columns.min() < 20  # the top left
    assert not changed(drawn, undrawn)[frame.shape[0] // 2 :].any()  # the rest of the picture is left alone
    assert changed(drawn, draw(frame, first, analyzer)).any()  # the time is drawn
    cv2.imwrite(str(tmp_path / "no_face.jpg"), drawn)  # an artifact of the run, to look at
