"""`dmsd bench` end to end on a few real frames: it runs and reports what the README names. No timing is
asserted (shared machines are noisy); the figures live in the README and the model card."""

import json

import pytest

from harness import CLIP, ROOT, SAMPLES, run_dmsd


def bench(*args):
    result = run_dmsd("bench", *args, "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_bench_on_the_clip_reports_both_pipelines_on_the_same_frames():
    report = bench("--source", str(CLIP), "--frames", "20", "--passes", "1", "--threads", "1")
    assert report["frames"] == 20 and report["frame_size"] == [450, 336]
    assert 15 <= report["frames_with_face"] <= 20
    assert report["fps"] > 0
    for stage in ("decode", "detect", "landmarks", "emotion", "seatbelt", "eyes", "blendshapes", "state", "total"):
        timing = report["stages"][stage]
        assert 0 < timing["p50_ms"] <= timing["p99_ms"]
    baseline = report["baseline"]
    assert baseline["name"] == "fer-style" and baseline["settings"]["min_neighbors"] == 5
    assert 0 < baseline["frames_with_face"] <= 20 and baseline["fps"] > 0
    assert report["speedup_vs_baseline"] == pytest.approx(report["fps"] / baseline["fps"], rel=0.02)
    assert report["threads"] == {"opencv": 1, "onnxruntime_intra_op": 1}
    assert report["machine"]["cores"] >= 1


def test_bench_letterboxes_frames_to_a_given_size():
    report = bench("--source", str(CLIP), "--frames", "8", "--passes", "1", "--size", "1280x720", "--no-baseline")
    assert report["frame_size"] == [1280, 720] and "baseline" not in report
    assert report["frames_with_face"] >= 6


def test_bench_without_a_source_times_every_model_fp32_beside_int8():
    report = bench("--runs", "200", "--threads", "2")
    assert set(report["models"]) == {"emotion", "seatbelt", "eyes", "phone"}
    for timing in report["models"].values():
        assert timing["fp32"]["p50_ms"] > 0 and timing["int8"]["p50_ms"] > 0 and timing["int8_speedup"] > 0
    assert report["threads"]["onnxruntime_intra_op"] == 2
    # the INT8 file timed is the one the daemon opens on this CPU (dmsd.vision.int8_weights)
    from dmsd.vision.int8_weights import full_weights_exact

    emotion = report["models"]["emotion"]["int8"]
    assert emotion["file"] == ("emotion.int8.w8.onnx" if full_weights_exact() else "emotion.int8.onnx")
    assert emotion["bytes"] == (ROOT / "models" / emotion["file"]).stat().st_size


def test_bench_prints_a_readable_summary_without_json():
    result = run_dmsd("bench", "--source", str(SAMPLES), "--passes", "1", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "fer-style" in result.stdout and "frames per second" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "/nonexistent/clip.mp4"], "source /nonexistent/clip.mp4: no such file or directory"),
        (["--threads", "0"], "--threads: detector.threads: 0 is out of range (1..256)"),
        (["--threads", "-2"], "--threads: detector.threads: -2 is out of range (1..256)"),
        (["--frames", "0"], "--frames must be at least 1 (got 0)"),
        (["--source", str(CLIP), "--size", "big"], "--size big: expected WIDTHxHEIGHT"),
    ],
)
def test_bench_refuses_bad_input_in_one_line(args, message):
    result = run_dmsd("bench", *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("dmsd bench: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bench_on_a_source_without_frames_fails_clearly(tmp_path):
    not_a_video = tmp_path / "clip.mp4"
    not_a_video.write_bytes(b"\x00" * 4096)
    empty = tmp_path / "frames"
    empty.mkdir()
    for source in (not_a_video, empty):
        result = run_dmsd("bench", "--source", str(source))
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("dmsd bench: ") and str(source) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
