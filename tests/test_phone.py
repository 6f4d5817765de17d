"""Phone use: the model on the region its contract names (around the daemon's own face box), through the daemon's
own pipeline on real near-infrared calls and photos, its answer in `--once` and the state, `phone_use` /
`phone_down` on the frames' own clock, `dmsd evaluate --task phone` on photos and on span files of real clips, Home
Assistant's entity, and the attentive drivers of the bundled clip and the incluit videos with phone use looked
for."""

import csv
import json

import cv2
import pytest

from dmsd.config import Config, ModelConfig, ModelsConfig, PhoneConfig, StateConfig
from dmsd.driver.phone import PhoneTracker
from dmsd.driver.state import DriverStateTracker
from dmsd.labels import PHONE_LABELS
from dmsd.publish.homeassistant import discovery_payload
from dmsd.publish.payloads import event_json as wire
from dmsd.publish.payloads import state_payload
from dmsd.vision.analyzer import Analyzer
from dmsd.vision.geometry import Box
from dmsd.vision.results import FrameResult
from dmsd.vision.stages.base import FrameWork
from dmsd.vision.stages.phone import PHONE, PhoneRegion, PhoneResult, PhoneStage
from harness import CLIP, ROOT, SAMPLES, SHARED, printed_events, run_dmsd, write_config
from train.phone import VALID_SUBJECTS

STATEFARM = SHARED / "phone" / "statefarm_subjects"
NIR = SHARED / "driver_video" / "nir_incar"
PHONE_ON = "phone:\n  enabled: true\n"


def clip_frame(path, index):
    """Frame `index` of a clip, read through from the start (these clips must never be sought)."""
    capture = cv2.VideoCapture(str(path))
    try:
        for _ in range(index + 1):
            ok, image = capture.read()
            assert ok, f"{path} has no frame {index}"
        return image
    finally:
        capture.release()


def statefarm_rows(subjects=None):
    with open(STATEFARM / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if subjects is None or row["subject"] in subjects]


def reading(use, p=0.9):
    """A phone reading of `use` at probability p, the rest shared by the other two."""
    probs = {label: (p if label == use else (1 - p) / 2) for label in PHONE_LABELS}
    return PhoneResult.from_probs(probs, PhoneConfig().min_confidence)


def feed(tracker, start, seconds, use, fps=10, p=0.9):
    events = []
    for i in range(round(seconds * fps)):
        now = round(start + i / fps, 3)
        events += [(now, e) for e in tracker.update(now, reading(use, p))]
    return events


def test_a_call_held_3_seconds_is_phone_use_and_2_seconds_without_is_phone_down():
    tracker = PhoneTracker(PhoneConfig(min_s=3.0))
    assert feed(tracker, 0.0, 2.9, "call") == []  # 0.0 .. 2.8: not yet 3 s
    assert tracker.state.use == "none" and tracker.state.confidence == pytest.approx(0.05)  # none's own probability
    (now, event), *rest = feed(tracker, 2.9, 0.2, "call", p=0.912345)
    assert rest == [] and now == event.ts == 3.0 and event.type == "phone_use"
    assert wire(event)["before"] == {"phone": "none"}
    assert wire(event)["after"] == {"phone": "in_use", "kind": "call", "confidence": 0.9123}
    assert tracker.state.use == "call"
    assert feed(tracker, 3.1, 1.0, "texting") == []  # call and texting: the same use goes on
    assert tracker.state.use == "texting"
    assert feed(tracker, 4.1, 2.0, "none") == []  # 4.1 .. 6.0: 1.9 s, not yet put down
    (now, event), *_ = feed(tracker, 6.1, 0.2, "none")
    assert now == event.ts == 6.1 and event.type == "phone_down"
    assert wire(event)["before"] == {"phone": "in_use", "kind": "texting"}
    assert wire(event)["after"] == {"phone": "none"} and tracker.state.use == "none"


def test_a_glance_at_the_phone_shorter_than_min_s_is_nothing_and_restarts_the_count():
    tracker = PhoneTracker(PhoneConfig(min_s=3.0))
    events = feed(tracker, 0.0, 2.5, "texting") + feed(tracker, 2.5, 0.1, "none") + feed(tracker, 2.6, 2.9, "texting")
    assert events == []
    assert [(now, e.type) for now, e in feed(tracker, 5.5, 0.2, "texting")] == [(5.6, "phone_use")]


def test_an_unsure_reading_is_none():
    assert reading("call", p=0.59).use == "none" and reading("call", p=0.6).use == "call"


def test_the_state_carries_the_phone_and_forgets_it_with_the_driver():
    tracker = DriverStateTracker(StateConfig(absent_after_s=1.0))
    face = Box(100, 80, 90, 90)
    events = []
    for i in range(40):
        use = "call" if i >= 5 else "none"
        result = FrameResult("t", i / 10, face if i % 3 else None, {"phone": reading(use)})
        events += tracker.update(result)
    assert [e.type for e in events].count("phone_use") == 1  # also on frames where the face was lost
    assert state_payload(tracker.state)["phone"]["use"] == "call"
    for i in range(40, 60):
        events = tracker.update(FrameResult("t", i / 10, None, {"phone": reading("call")}))
        if events and events[-1].type == "driver_absent":
            break
    assert state_payload(tracker.state)["phone"] is None


def test_once_gives_the_phone_on_a_real_photo_and_null_without_a_face(tmp_path):
    config = write_config(tmp_path / "c.yaml", PHONE_ON)
    row = statefarm_rows(VALID_SUBJECTS.split(","))[0]
    result = run_dmsd(
        "--config", str(config), "--once", str(SAMPLES / "cabin_frame060.jpg"), str(SAMPLES / "cabin_noface.jpg")
    )
    assert result.returncode == 0, result.stderr
    with_face, without = (json.loads(line) for line in result.stdout.splitlines())
    assert with_face["phone"]["use"] in PHONE_LABELS and 1 / 3 <= with_face["phone"]["confidence"] <= 1
    assert "phone" in with_face["latency_ms"]
    assert without["face"] is None and without["phone"] is None
    off = json.loads(run_dmsd("--once", str(STATEFARM / row["path"])).stdout)
    assert off["phone"] is None  # off by default


def test_on_video_the_model_runs_at_most_every_interval():
    config = Config(phone=PhoneConfig(enabled=True, interval_s=0.25))
    analyzer = Analyzer.from_config(config, video=True)
    stage = analyzer.stage(PhoneStage)
    calls = []
    run = stage.classifier.run
    stage.classifier.run = lambda tensor: calls.append(1) or run(tensor)
    image = cv2.imread(str(SAMPLES / "cabin_frame060.jpg"))
    for i in range(10):  # 10 frames at 10 per second: runs at 0.0, 0.3, 0.6, 0.9
        result = analyzer.analyze(image, "t", i / 10)
        assert result.get(PHONE) is not None
    assert len(calls) == 4


def test_on_a_still_the_phone_needs_a_face_and_the_interval_boundary_runs_again():
    from dmsd.errors import DmsdError

    still = Analyzer.from_config(Config(phone=PhoneConfig(enabled=True)), video=False)
    assert still.models()["phone"].endswith("phone.int8.onnx")
    no_face = still.analyze(cv2.imread(str(SAMPLES / "cabin_noface.jpg")), "t", 0.0)
    face = still.analyze(cv2.imread(str(SAMPLES / "cabin_frame060.jpg")), "t", 0.0)
    assert no_face.get(PHONE) is None and face.get(PHONE).use in PHONE_LABELS
    video = Analyzer.from_config(Config(phone=PhoneConfig(enabled=True, interval_s=0.5)), video=True)
    stage = video.stage(PhoneStage)
    calls = []
    run = stage.classifier.run
    stage.classifier.run = lambda tensor: calls.append(1) or run(tensor)
    image = cv2.imread(str(SAMPLES / "cabin_frame060.jpg"))
    for ts in (0.0, 0.0, 0.25, 0.5, 0.75, 1.0):  # the same frame time twice: one run; exactly 0.5 s on: runs again
        video.analyze(image, "t", ts)
    assert len(calls) == 3
    missing = Config(phone=PhoneConfig(enabled=True), models=ModelsConfig(phone=ModelConfig(path="/nonexistent.onnx")))
    with pytest.raises(DmsdError, match=r"copy models/phone\.int8\.onnx there, set models\.phone\.path"):
        PhoneStage.from_config(missing, video=True)


def test_an_unsure_reading_on_a_real_frame_is_none_under_min_confidence():
    """incluit's attentive driver, first frame, as a still: the model reads a call at about 0.75 (one of the unsure
    readings on drivers it never saw, model card "Phone use"): a call at min_confidence 0.6, none at 0.9."""
    image = clip_frame(SHARED / "driver_video" / "incluit" / "video1.mp4", 0)
    frame = FrameWork(image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    face = Analyzer.from_config(Config(), video=False).analyze(image, "t", 0.0).face
    assert face is not None
    for min_confidence, use in ((0.6, "call"), (0.9, "none")):
        config = Config(phone=PhoneConfig(enabled=True, min_confidence=min_confidence))
        reading = PhoneStage.from_config(config, video=False).judge(frame, face)
        assert reading.use == use and reading.confidence == pytest.approx(reading.probs[use])
        assert 0.6 < reading.probs["call"] < 0.9


def test_the_region_is_cut_around_the_face_as_the_models_contract_says():
    region = PhoneRegion.parse('{"anchor": "face", "width": 2.4, "height": 2.2, "top": 0.35}', "m.onnx")
    assert region.box(Box(100, 100, 50, 50), 640, 480) == Box(65, 82, 120, 110)  # centred, from above the brow
    assert region.box(Box(0, 10, 50, 50), 640, 480) == Box(0, 0, 85, 102)  # cut to the frame at its edges
    assert region.box(None, 640, 480) is None  # no face ever seen: nothing to judge
    whole = PhoneRegion.parse(None, "m.onnx")  # the first phone model says nothing: the whole frame
    assert whole.anchor == "frame" and whole.box(None, 640, 480) == Box(0, 0, 640, 480)
    assert PhoneRegion.parse(region.to_json(), "m.onnx") == region
    shipped = PhoneStage.from_config(Config(phone=PhoneConfig(enabled=True)), video=True)
    assert shipped.region.anchor == "face"  # the shipped model judges the face and its surroundings


@pytest.mark.parametrize(
    "region, says",
    [
        ("{not json", "dmsd.region must be JSON"),
        ('{"anchor": "hands"}', "dmsd.region must be JSON"),
        ('{"anchor": "face", "width": 40, "height": 2, "top": 0}', "width and height 0.5 to 10 face sizes"),
        ('{"anchor": "face", "width": 2}', "dmsd.region must be JSON"),
    ],
)
def test_a_phone_model_with_a_wrong_region_contract_is_one_line(tmp_path, region, says):
    import onnx

    model = onnx.load(str(ROOT / "models" / "phone.int8.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    props["dmsd.region"] = region
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(tmp_path / "phone.onnx"))
    config = write_config(tmp_path / "c.yaml", PHONE_ON + f"models:\n  phone:\n    path: {tmp_path / 'phone.onnx'}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame010.jpg"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"dmsd: {tmp_path / 'phone.onnx'}: ") and says in line, line


def test_on_video_a_lost_face_is_judged_on_the_last_faces_region():
    """A hand and a phone at the ear can hide the face: on a real call whose face the tracker loses for half a
    second (frames 16-20), the phone is still judged there, on the region where the face was, and read as a call."""
    analyzer = Analyzer.from_config(Config(phone=PhoneConfig(enabled=True, interval_s=0.0)), video=True)
    capture = cv2.VideoCapture(str(NIR / "calling" / "Phoning_12.avi"))
    lost = []
    for index in range(21):
        ok, image = capture.read()
        assert ok
        result = analyzer.analyze(image, "t", index / 10)
        if result.face is None:
            lost.append(result.get(PHONE))
    capture.release()
    assert len(lost) >= 3 and all(reading is not None and reading.use == "call" for reading in lost), lost
    fresh = Analyzer.from_config(Config(phone=PhoneConfig(enabled=True)), video=True)
    assert fresh.analyze(cv2.imread(str(SAMPLES / "cabin_noface.jpg")), "t", 0.0).get(PHONE) is None


def test_a_missing_phone_model_is_one_line(tmp_path):
    config = write_config(tmp_path / "c.yaml", PHONE_ON + f"models:\n  phone:\n    path: {tmp_path / 'no.onnx'}\n")
    result = run_dmsd("--config", str(config), "--once", str(SAMPLES / "cabin_frame010.jpg"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"dmsd: {tmp_path / 'no.onnx'}: no such model file (copy models/phone.int8.onnx there, set "
        "models.phone.path, or phone.enabled: false)"
    )


def test_evaluate_phone_scores_photos_where_the_region_can_be_cut(tmp_path):
    """State Farm's side views through the pipeline: a photo is judged where a face is found (the region hangs on
    it), and the others are counted, never guessed."""
    rows = statefarm_rows(VALID_SUBJECTS.split(","))
    lines = ["path,phone,subject"] + [f"{STATEFARM / r['path']},{r['phone']},{r['subject']}" for r in rows]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    result = run_dmsd("evaluate", "--task", "phone", "--data", str(tmp_path / "labels.csv"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == len(rows) and report["labels"] == PHONE_LABELS and '"face"' in report["region"]
    assert report["n"] == report["with_face"] == sum(map(sum, report["confusion"])) < len(rows)
    assert report["no_region"] == len(rows) - report["with_face"] > 0
    (tmp_path / "few.csv").write_text("\n".join(lines[:7]) + "\n")
    text = run_dmsd("evaluate", "--task", "phone", "--data", str(tmp_path / "few.csv")).stdout
    assert "images 6," in text and "a phone called on" in text and "no region to judge" in text
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,phone\n{STATEFARM / rows[0]['path']},selfie\n")
    refused = run_dmsd("evaluate", "--task", "phone", "--data", str(bad))
    assert refused.returncode == 2 and "unknown phone 'selfie' (allowed: call, texting, none)" in refused.stderr


def test_evaluate_phone_on_clips_says_which_raise_phone_use(tmp_path):
    """A span file of real clips through the pipeline and the phone rule: a near-infrared call of 3.5 s raises
    phone_use (once, after phone.min_s), the same driver's closed eyes raise nothing, and each clip's frames are
    counted."""
    spans = tmp_path / "spans.csv"
    spans.write_text(
        "path,frames,label,person\n"
        "driver_video/nir_incar/calling/Phoning_13.avi,all,call,nir_A\n"
        "driver_video/nir_incar/eye/eye_closed_11.avi,all,none,nir_A\n"
    )
    result = run_dmsd("evaluate", "--task", "phone", "--data", str(spans), "--root", str(SHARED), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    call, free = report["clips"]
    assert call["phone_expected"] and len(call["phone_use_at"]) == 1
    assert report["min_s"] <= call["phone_use_at"][0] <= report["min_s"] + 0.5
    assert call["phone_read_phone"] >= 0.9 * call["phone_frames"] > 0
    assert not free["phone_expected"] and free["phone_use_at"] == [] and free["none_frames"] > 40
    person = report["people"]["nir_A"]
    assert {k: person[k] for k in ("call_clips", "found", "free_clips", "false")} == {
        "call_clips": 1,
        "found": 1,
        "free_clips": 1,
        "false": 0,
    }
    assert person["none_frames"] == free["none_frames"] and person["phone_frames"] == call["phone_frames"]
    text = run_dmsd("evaluate", "--task", "phone", "--data", str(spans), "--root", str(SHARED)).stdout
    assert "all clips: phone_use on 1 of 1 call clips, on 0 of 1 phone-free clips" in text
    for row, says in [
        ("driver_video/nir_incar/calling/Phoning_09.avi,all,selfie,nir_A", "unknown label 'selfie' (allowed: call"),
        ("driver_video/nir_incar/calling/Phoning_09.avi,0-500,call,nir_A", "run past the end of Phoning_09.avi"),
    ]:
        spans.write_text(f"path,frames,label,person\n{row}\n")
        refused = run_dmsd("evaluate", "--task", "phone", "--data", str(spans), "--root", str(SHARED))
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert says in refused.stderr and "\n" not in refused.stderr.strip(), refused.stderr


def test_home_assistant_announces_the_phone_only_when_it_is_looked_for():
    topics = {"state": "s", "stats": "t", "availability": "a"}
    assert not any(key.endswith("_phone") for key in discovery_payload("van", topics)["cmps"])
    phone = discovery_payload("van", topics, phone=True)["cmps"]["van_phone"]
    assert phone["options"] == PHONE_LABELS and "value_json.phone.use" in phone["value_template"]


@pytest.mark.parametrize(
    "video",
    [CLIP, SHARED / "driver_video" / "incluit" / "video1.mp4", SHARED / "driver_video" / "incluit" / "video3.mp4"],
    ids=["clip", "incluit1", "incluit3"],
)
def test_attentive_drivers_on_real_video_raise_no_phone_use(video, tmp_path):
    config = write_config(tmp_path / "c.yaml", PHONE_ON)
    result = run_dmsd("--config", str(config), "--source", str(video), "--no-mqtt", "--print")
    assert result.returncode == 0, result.stderr
    events = [e["type"] for e in printed_events(result.stdout.splitlines())]
    assert "driver_present" in events and "phone_use" not in events, events


@pytest.mark.training
def test_train_convert_and_run_a_phone_model(tmp_path, capsys):
    """One epoch on a few real photos per class and a few frames of real clips (their people split: one trained on,
    one held out), then the real convert tooling, whose model carries its region to the daemon; a second seed, and
    the two averaged in one graph."""
    import onnx

    from convert.__main__ import convert
    from convert.__main__ import main as convert_main
    from convert.ensemble import average
    from dmsd.errors import DmsdError
    from train.__main__ import main as train_main

    spans = tmp_path / "spans.csv"
    spans.write_text(
        "path,frames,label,person\n"
        "driver_video/nir_incar/calling/Phoning_09.avi,all,call,nir_A\n"
        "driver_video/nir_incar/eye/eye_closed_11.avi,all,none,nir_A\n"
        "driver_video/nir_incar/calling/Phoning_07.avi,all,call,nir_C\n"
        "driver_video/nir_incar/eye/eye_closed_13.avi,all,none,nir_C\n"
    )
    run = tmp_path / "run"
    argv = ["phone", "--data", str(STATEFARM), "--out", str(run), "--size", "64x48", "--width", "4", "--epochs", "1"]
    argv += ["--limit", "12", "--negatives", str(SHARED / "yawn" / "yawdd_frames"), "--clips", str(spans)]
    assert train_main([*argv, "--clips-root", str(SHARED), "--test-people", "nir_C", "--region", "2,1.5,0.3"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert not set(config["train_subjects"]) & set(config["valid_subjects"])
    assert "nir_A" in config["train_subjects"] and "nir_C" in config["valid_subjects"]
    assert "negatives" not in config["valid_subjects"] and config["sources"]["clip:nir_C"]["pictures"] == 24
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["per_source"]["clip:nir_C"]["calls_read_call"].endswith("of 12")
    report = convert(run, tmp_path / "models", calib_size=32, method="minmax", quant_format="qdq", per_channel=True)
    assert report["int8"]["top1_agreement_vs_keras"] >= 0.7
    model = tmp_path / "models" / "phone.int8.onnx"
    region = {p.key: p.value for p in onnx.load(str(model)).metadata_props}["dmsd.region"]
    assert json.loads(region) == {"anchor": "face", "width": 2.0, "height": 1.5, "top": 0.3}
    config_file = write_config(tmp_path / "c.yaml", PHONE_ON + f"models:\n  phone:\n    path: {model}\n")
    result = run_dmsd("--config", str(config_file), "--once", str(SAMPLES / "cabin_frame060.jpg"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["phone"]["use"] in PHONE_LABELS
    # Two seeds of the recipe averaged in one graph (python -m convert RUN RUN): the contract kept, the members counted.
    assert train_main([*argv, "--clips-root", str(SHARED), "--test-people", "nir_C", "--region", "2,1.5,0.3",
                       "--seed", "2", "--out", str(tmp_path / "run2")]) == 0  # fmt: skip
    capsys.readouterr()
    both = convert_main([str(run), str(tmp_path / "run2"), "--out", str(tmp_path / "both"), "--calib-size", "32"])
    assert both == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ensemble"]["members"] == 2 and report["ensemble"]["int8_top1_agreement_vs_fp32"] >= 0.7
    averaged = {p.key: p.value for p in onnx.load(str(tmp_path / "both" / "phone.int8.onnx")).metadata_props}
    assert averaged["dmsd.members"] == "2" and averaged["dmsd.region"] == region
    with pytest.raises(DmsdError, match=r"its .*dmsd.region differ from .*; an ensemble shares them"):
        average([model, ROOT / "models" / "phone.int8.onnx"], tmp_path / "mixed.onnx")
    for bad_args, says in [(["--size", "big"], "--size 'big'"), (["--region", "wide"], "--region 'wide'")]:
        capsys.readouterr()
        bad = train_main(["phone", "--data", str(STATEFARM), *bad_args, "--out", str(tmp_path / "bad")])
        assert bad == 2 and not (tmp_path / "bad").exists() and says in capsys.readouterr().err


def test_a_reading_of_another_kind_restarts_the_count_toward_phone_use():
    """A call for 1.5 s, then texting: texting is timed from its own start, and is phone_use (of kind texting) once it
    has lasted min_s (2 s) itself."""
    tracker = PhoneTracker(PhoneConfig())
    assert feed(tracker, 0.0, 1.5, "call") + feed(tracker, 1.5, 1.9, "texting") == []
    events = feed(tracker, 3.4, 0.2, "texting")
    assert [(now, e.type, wire(e)["after"]["kind"]) for now, e in events] == [(3.5, "phone_use", "texting")]


# -- the region contract, in the test's own process --------------------------------------------------------------


def test_a_whole_frame_region_reads_and_writes_as_the_module_says():
    whole = PhoneRegion.parse('{"anchor": "frame"}', "m.onnx")
    assert whole == PhoneRegion("frame") and whole.box(Box(10, 10, 50, 50), 640, 480) == Box(0, 0, 640, 480)
    assert whole.to_json() == '{"anchor": "frame"}' and PhoneRegion.parse(None, "m.onnx").to_json() == whole.to_json()
    face = PhoneRegion("face", 2.0, 1.5, 0.25)
    assert json.loads(face.to_json()) == {"anchor": "face", "width": 2.0, "height": 1.5, "top": 0.25}


@pytest.mark.parametrize(
    "width, height, top",
    [(0.5, 0.5, -2), (10, 10, 5), (0.5, 10, 0), (10, 0.5, 0)],
    ids=["lowest", "highest", "wh", "hw"],
)
def test_a_face_region_at_the_edges_of_its_ranges_is_taken(width, height, top):
    text = json.dumps({"anchor": "face", "width": width, "height": height, "top": top})
    assert PhoneRegion.parse(text, "m.onnx") == PhoneRegion("face", width, height, top)


@pytest.mark.parametrize(
    "spec",
    [
        {"anchor": "face", "width": 0.4, "height": 2, "top": 0},
        {"anchor": "face", "width": 10.5, "height": 2, "top": 0},
        {"anchor": "face", "width": 2, "height": 0.4, "top": 0},
        {"anchor": "face", "width": 2, "height": 10.5, "top": 0},
        {"anchor": "face", "width": 2, "height": 2, "top": -2.5},
        {"anchor": "face", "width": 2, "height": 2, "top": 5.5},
        {"anchor": "hands", "width": 2, "height": 2, "top": 0},
    ],
    ids=["narrow", "wide", "short", "tall", "high", "low", "hands"],
)
def test_a_region_out_of_range_or_of_another_anchor_is_refused_in_one_line(spec):
    from dmsd.errors import DmsdError

    text = json.dumps(spec)
    with pytest.raises(DmsdError) as refused:
        PhoneRegion.parse(text, "m.onnx")
    assert str(refused.value) == (
        "m.onnx: dmsd.region anchor must be face or frame, width and height 0.5 to 10 face sizes, top -2 to 5 "
        f"(got {text})"
    )


def test_a_long_region_is_quoted_to_80_characters_and_bad_json_says_what_is_expected():
    from dmsd.errors import DmsdError

    text = json.dumps({"anchor": "face", "width": 40, "height": 2, "top": 0, "note": "x" * 100})
    with pytest.raises(DmsdError) as refused:
        PhoneRegion.parse(text, "m.onnx")
    assert str(refused.value).endswith(f"(got {text[:80]})") and len(text) > 81
    with pytest.raises(DmsdError) as refused:
        PhoneRegion.parse("{not json", "m.onnx")
    assert str(refused.value).startswith('m.onnx: dmsd.region must be JSON {"anchor": "frame"} or {"anchor": "face", ')


def tiny_phone_model(path, region=None, colour="bgr"):
    """A real ONNX phone model of one's own, small enough to reason about: the mean of each colour channel, weighed
    so that a red picture reads as a call, a blue one as texting, a green one as none (in BGR order)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    channels = 3 if colour != "grey" else 1
    weights = np.zeros((channels, 3), dtype=np.float32)  # output order: call, texting, none
    if channels == 3:
        weights[2, 0] = weights[0, 1] = weights[1, 2] = 20.0
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["mean", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ],
        "tiny_phone",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.flatten().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    meta = {
        "dmsd.task": "phone",
        "dmsd.labels": json.dumps(["call", "texting", "none"]),
        "dmsd.input": json.dumps({"size": [8, 8], "colour": colour, "layout": "NCHW", "scale": 1 / 255, "offset": 0}),
    }
    if region is not None:
        meta["dmsd.region"] = region
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def coloured(bgr):
    import numpy as np

    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:] = bgr
    return FrameWork(image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def test_a_colour_phone_model_of_ones_own_reads_the_colour_frame(tmp_path):
    from dmsd.vision.classifier import Classifier

    model = Classifier(tiny_phone_model(tmp_path / "phone.onnx", '{"anchor": "frame"}'), "phone")
    stage = PhoneStage(model, PhoneConfig(enabled=True), video=True)
    assert stage.judge(coloured((0, 0, 255)), None).use == "call"  # red, whole frame: no face needed
    assert stage.judge(coloured((255, 0, 0)), None).use == "texting"
    assert stage.judge(coloured((0, 255, 0)), None).use == "none"


def test_on_a_still_without_a_face_there_is_no_driver_to_judge_whatever_the_region(tmp_path):
    from dmsd.vision.classifier import Classifier

    model = Classifier(tiny_phone_model(tmp_path / "phone.onnx", '{"anchor": "frame"}'), "phone")
    still = PhoneStage(model, PhoneConfig(enabled=True), video=False)
    assert still.run(coloured((0, 0, 255))) is None
    video = PhoneStage(model, PhoneConfig(enabled=True), video=True)
    assert video.run(coloured((0, 0, 255))).use == "call"  # on video the whole frame is judged


def test_a_wrong_region_contract_names_the_model_file(tmp_path):
    from dmsd.errors import DmsdError
    from dmsd.vision.classifier import Classifier

    path = tiny_phone_model(tmp_path / "phone.onnx", '{"anchor": "hands"}')
    with pytest.raises(DmsdError) as refused:
        PhoneStage(Classifier(path, "phone"), PhoneConfig(enabled=True), video=True)
    assert str(refused.value).startswith(f"{path}: dmsd.region must be JSON")
