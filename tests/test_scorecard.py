"""The events scorecard: annotations read strictly, events scored as the README says, bad input in one line."""

import json

import pytest

from dmsd.driver.events import Event, EventType
from dmsd.errors import DmsdError
from dmsd.offline.scorecard import load_annotations, score_clip
from harness import CLIP, ROOT, SHARED, run_dmsd

HEADER = "path,seated,expected,tolerated,no_face,notes\n"
NIR_CLOSURE = "driver_video/nir_incar/eye/eye_closed_11.avi"  # eyes shut the whole 5.8 s, head tilted back
# The shipped defaults on tests/labels/clip_events.csv measured 25 of 45 expected events found, 19 false alarms (1
# driver_absent while seated), a face on 99.8% of the frames where a person sees one, asleep on all 22 closures of
# 3.5 s or more (README, "Scoring dmsd on your own recordings"). Floors one event from the measurement.
# Measured 35 found, 4 false (none of them an eye or yawn alarm), 18 asleep, 16 yawns (README); a little slack for
# another CPU's rounding of the INT8 eye model.
# Issue 30 annotated the belt: seatbelt_unfastened expected on the 59 unbelted near-infrared clips whose chest is in
# view. The model before it: 77 of 104 found (41 of the 59 belts), 5 false (one seatbelt_unfastened, on the belted
# night driver). Its model: 93 found (57 belts: 36 of nir_A's 37, 21 of nir_C's 22, a driver it never saw), 5 false
# (still that one belt). Floors a little under, for another CPU's rounding of the INT8 models.
# Issue 31, with phone use looked for: the first phone model found 0 of the 12 calls; the driver's-camera model 12 of
# 12 (it learned from these drivers), and no phone_use on the phone-free clips beside them.
FLOORS = {
    "found": 91,
    "false": 5,
    "false_absent": 1,
    "face_share": 0.99,
    "asleep": 17,
    "yawn": 14,
    "drowsy_false": 1,
    "belt_found": 55,
    "belt_false": 1,
    "phone_found": 11,
    "phone_false": 0,
}


def annotations(tmp_path, *rows, header=HEADER):
    path = tmp_path / "clips.csv"
    path.write_text(header + "".join(row + "\n" for row in rows))
    return path


def scorecard(path, *options, timeout=1200):
    """`dmsd evaluate --task events` on an annotation file of the shared clips, two clips at a time: the report."""
    args = ["evaluate", *options, "--task", "events", "--data", str(path), "--root", str(SHARED), "--jobs", "2"]
    result = run_dmsd(*args, "--json", timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def at(kind, t):
    return (t, Event(EventType(kind), 1000.0 + t, {}, {}))


def test_rows_are_read_with_windows_tolerances_and_hidden_face(tmp_path):
    (clip,) = load_annotations(
        annotations(tmp_path, f'{CLIP.name},yes,asleep@2.5-6 yawn@8-11.5,microsleep drowsy@1-3,12-13.5,"a, b"'),
        root=CLIP.parent,
    )
    assert clip.path == CLIP and clip.seated and clip.row == 2 and clip.notes == "a, b"
    assert [str(w) for w in clip.expected] == ["asleep@2.5-6", "yawn@8-11.5"]
    assert [str(w) for w in clip.tolerated] == ["microsleep", "drowsy@1-3"]
    assert clip.no_face == ((12.0, 13.5),) and clip.face_hidden(12.5) and not clip.face_hidden(11.9)


def test_scoring_finds_misses_and_false_alarms(tmp_path):
    (clip,) = load_annotations(
        annotations(tmp_path, f"{CLIP.name},yes,asleep@2.5-6 yawn@8-11,microsleep drowsy@1-3,,"), root=CLIP.parent
    )
    events = [
        at("driver_present", 0.0),  # not an alarm: never scored
        at("drowsy", 2.0),  # tolerated in its window
        at("asleep", 3.0),  # expected: found
        at("asleep", 5.0),  # a repeat in an expected window: not false
        at("microsleep", 9.0),  # tolerated anywhere
        at("drowsy", 9.5),  # tolerated only from 1 to 3 s: false
        at("distracted", 12.0),  # not annotated: false
        at("driver_absent", 13.0),  # the driver is seated: false
    ]
    score = score_clip(clip, "clip", events, {})
    assert score.found == ["asleep@2.5-6 at 3.0"] and score.missed == ["yawn@8-11"]
    assert score.false == ["drowsy@9.5", "distracted@12.0", "driver_absent@13.0"]
    unseated = load_annotations(annotations(tmp_path, f"{CLIP.name},no,,,,"), root=CLIP.parent)[0]
    assert score_clip(unseated, "clip", [at("driver_absent", 13.0)], {}).false == []
    off = score_clip(clip, "clip", [], {"yawn": "landmarks.enabled is false"})
    assert off.missed == ["asleep@2.5-6"] and off.not_judged == ["yawn@8-11 (landmarks.enabled is false)"]


@pytest.mark.parametrize(
    "row, says",
    [
        (f"{CLIP.name},yes,napping@1-2,,,", "row 2: expected names unknown event 'napping'; allowed: "),
        (f"{CLIP.name},yes,asleep,,,", "row 2: expected asleep needs a window"),
        (f"{CLIP.name},yes,asleep@3-1,,,", "row 2: expected item 'asleep@3-1' ends before it starts"),
        (f"{CLIP.name},maybe,,,,", "row 2: seated must be yes or no, not 'maybe'"),
        (f"{CLIP.name},yes,,,4-a,", "row 2: no_face item '4-a' is not START-END"),
        (f"{CLIP.name},yes", "row 2: expected 6 columns"),
        ("missing.mp4,yes,,,,", "row 2: "),
    ],
)
def test_a_bad_annotation_is_one_line_naming_file_and_row(tmp_path, row, says):
    path = annotations(tmp_path, row)
    with pytest.raises(DmsdError, match="^" + str(path).replace(".", r"\.") + " ") as caught:
        load_annotations(path, root=CLIP.parent)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_bad_clips_and_windows_outside_them_stop_the_command_in_one_line(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    for row, says in [
        ("broken.mp4,yes,,,,", "row 2: " + str(tmp_path / "broken.mp4") + " is not a video OpenCV can read"),
        (f"{CLIP},yes,asleep@30-40,,,", "row 2: asleep@30-40 lies outside the clip, which is 21.35 s long"),
        (f"{CLIP},yes,,,,\n{CLIP},yes,,,,", "row 3: "),
    ]:
        path = annotations(tmp_path, row)
        result = run_dmsd("evaluate", "--task", "events", "--data", str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        line = result.stderr.strip()
        assert "\n" not in line and line.startswith(f"dmsd evaluate: {path} ") and says in line, line
    result = run_dmsd("evaluate", "--task", "events", "--data", str(tmp_path / "none.csv"))
    assert result.returncode == 2 and "cannot read the annotations" in result.stderr
    result = run_dmsd("evaluate", "--task", "emotion", "--data", "x.csv", "--root", str(tmp_path))
    assert (
        result.returncode == 2
        and "--root only applies to --task events and a seatbelt or phone span file" in result.stderr
    )


def test_a_real_closure_from_the_first_frame_is_asleep_and_nothing_else(tmp_path):
    """A near-infrared driver, eyes shut the whole clip with the head tilted back: `asleep` within the clip, though
    the driver's baseline is not learned yet (the eye-state model's verdict needs none), and no false alarm."""
    path = annotations(
        tmp_path,
        f"{NIR_CLOSURE},yes,asleep@2.5-5.8,microsleep drowsy unresponsive seatbelt_unfastened,,",
        "driver_video/incabin_belted_driver.mp4,yes,,,,",
    )
    result = run_dmsd("evaluate", "--task", "events", "--data", str(path), "--root", str(SHARED), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    closure, clip = report["clips"]
    assert closure["found"] and closure["found"][0].startswith("asleep@2.5-5.8 at 3.") and closure["false"] == []
    assert closure["face_share"] >= 0.95 and clip["false"] == [] and clip["frames"] == 150
    assert report["totals"]["found"] == 1 and report["totals"]["false"] == 0
    text = run_dmsd("evaluate", "--task", "events", "--data", str(path), "--root", str(SHARED)).stdout
    assert "expected events found 1 of 1" in text and "false alarms 0" in text


def test_the_scorecard_on_every_shared_real_clip():
    """dmsd's own scorecard (tests/labels/clip_events.csv: 69 real clips annotated by eye; README, "Scoring dmsd on
    your own recordings"). Floors a little under the measurement, so a change that loses a face, misses a closure or
    adds false alarms fails here; the README has the figures and what is still missed."""
    labels = ROOT / "tests" / "labels" / "clip_events.csv"
    report = scorecard(labels)
    totals, clips = report["totals"], {c["path"]: c for c in report["clips"]}
    assert totals["clips"] == 69 and totals["expected"] == 104 and totals["not_judged"] == 12  # phone use is off
    assert totals["face_share"] >= FLOORS["face_share"]
    assert totals["found"] >= FLOORS["found"] and totals["false"] <= FLOORS["false"]
    assert totals["false_absent"] <= FLOORS["false_absent"]
    # asleep on the near-infrared closures of 3.5 s or more
    closures = [c for c in report["clips"] if any(w.startswith("asleep@") for w in c["found"] + c["missed"])]
    found = sum(1 for c in closures for w in c["found"] if w.startswith("asleep@"))
    assert len(closures) == 22 and found >= FLOORS["asleep"]
    yawns = sum(1 for c in report["clips"] for w in c["found"] if w.startswith("yawn@"))
    assert yawns >= FLOORS["yawn"]
    # the eye and yawn rules raise (almost) nothing on open eyes and closed mouths
    wrong = {k: v for k, v in totals["false_by_event"].items() if k in ("microsleep", "asleep", "drowsy", "yawn")}
    assert sum(wrong.values()) <= FLOORS["drowsy_false"], wrong
    # the belt rows: seatbelt_unfastened on the unbelted near-infrared drivers whose chest is in view (59 clips), and
    # on no belted driver (the bundled clip's unbelted end, 1.3 s, is shorter than the debounce)
    unbelted = [
        c for c in report["clips"] if any(w.startswith("seatbelt_unfastened@") for w in c["found"] + c["missed"])
    ]
    belts = sum(1 for c in unbelted for w in c["found"] if w.startswith("seatbelt_unfastened@"))
    assert len(unbelted) == 59 and belts >= FLOORS["belt_found"]
    assert totals["false_by_event"].get("seatbelt_unfastened", 0) <= FLOORS["belt_false"]
    # no false alarm on the attentive drivers of the bundled clip and incluit
    for name in (
        "driver_video/incabin_belted_driver.mp4",
        "driver_video/incluit/video1.mp4",
        "driver_video/incluit/video3.mp4",
    ):
        assert clips[name]["false"] == [], clips[name]


def test_the_phone_rows_of_the_scorecard_with_phone_use_looked_for(tmp_path):
    """tests/labels/clip_events.csv's 12 near-infrared calls (`phone_use` expected), through the whole daemon with
    `phone.enabled: true` (off by default), beside phone-free clips: the same drivers' closed eyes, yawns and looks
    aside, and the attentive drivers of the bundled clip and incluit. The shipped model learned from these near-infrared
    drivers; what it does on people it never saw is measured by fold in the model card ("Phone use")."""
    lines = (ROOT / "tests" / "labels" / "clip_events.csv").read_text().splitlines()
    calls = [line for line in lines[1:] if "phone_use@" in line]
    free = [
        line
        for line in lines[1:]
        if any(
            name in line.split(",")[0]
            for name in (
                "incabin_belted_driver.mp4",
                "incluit/video1.mp4",
                "eye_closed_21.avi",
                "eye_closed_32.avi",
                "yawn_23.avi",
                "look_sideway_02.avi",
            )
        )
    ]
    path = tmp_path / "clips.csv"
    path.write_text("\n".join([lines[0], *calls, *free]) + "\n")
    config = tmp_path / "phone.yaml"
    config.write_text("phone:\n  enabled: true\n")
    report = scorecard(path, "--config", str(config), timeout=900)
    assert len(calls) == 12 and len(free) == 6 and report["totals"]["not_judged"] == 0
    found = sum(1 for c in report["clips"] for w in c["found"] if w.startswith("phone_use@"))
    assert found >= FLOORS["phone_found"]
    assert report["totals"]["false_by_event"].get("phone_use", 0) <= FLOORS["phone_false"]
