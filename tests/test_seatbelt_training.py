"""The seatbelt dataset builder on real images of every source, and a tiny train -> ONNX -> INT8 -> evaluate trip."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLES, SHARED, run_dmsd, write_config
from dmsd.config import ChestConfig, DetectorConfig

SEATBELT = SHARED / "seatbelt"


@pytest.fixture(scope="module")
def a_few_per_source():
    from train import seatbelt_data

    picked = []
    for name, loader in seatbelt_data.SOURCES.items():
        samples = loader(SEATBELT / name)
        picked += samples[:: len(samples) // 12][:12]
    return picked


def test_builder_uses_the_daemons_face_and_chest_geometry(a_few_per_source):
    from train import seatbelt_data

    data = seatbelt_data.build(a_few_per_source, DetectorConfig(), ChestConfig().geometry(), 64)
    report = data["report"]
    assert set(report) == {"person_crops", "windshield_crops", "incabin_belt_boxes"}
    for source, row in report.items():
        assert row["images"] == 12 and row["unreadable"] == 0
        assert row["region"] <= row["face"] <= row["images"]
    assert data["x"].shape == (sum(r["region"] for r in report.values()), 64, 64)
    assert set(np.unique(data["y"][data["source"] == "incabin_belt_boxes"])) <= {1}  # positives only
    assert 0 < report["incabin_belt_boxes"]["belt_area_in_region_median"] <= 1


def test_profile_fallback_only_adds_faces(a_few_per_source):
    from train import seatbelt_data

    geometry = ChestConfig().geometry()
    frontal = seatbelt_data.build(a_few_per_source, DetectorConfig(), geometry, 64)["report"]
    both = seatbelt_data.build(a_few_per_source, DetectorConfig(), geometry, 64, profile_fallback=True)["report"]
    for source in frontal:
        assert both[source]["face"] == frontal[source]["face"] + both[source]["profile_face"]
        assert both[source]["face"] >= frontal[source]["face"]


def test_near_duplicates_share_a_split():
    from train import seatbelt_data

    assert seatbelt_data.group_of("04-08-30_jpg.rf.1a23690fe2c4d44cac8873132a5c58e4_crop.jpg") == "04-08-30_jpg"
    samples = seatbelt_data.windshield_crops(SEATBELT / "windshield_crops")
    splits: dict[str, set] = {}
    for s in samples:
        splits.setdefault(s.group, set()).add(s.split)
    assert all(len(v) == 1 for v in splits.values())
    assert 0.1 < sum(s.split == "valid" for s in samples) / len(samples) < 0.3


@pytest.mark.training
def test_train_export_quantize_and_evaluate(tmp_path):
    from convert.__main__ import convert
    from train.__main__ import main as train_main

    run = tmp_path / "run"
    assert train_main(["seatbelt", "--data", str(SEATBELT), "--out", str(run), "--sources",
                       "person_crops,incabin_belt_boxes", "--limit", "80", "--epochs", "2", "--width", "4"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_source"]) <= {"person_crops", "incabin_belt_boxes"} and "balanced_accuracy" in metrics
    report = convert(run, tmp_path / "models", calib_size=32, method="minmax", quant_format="qdq", per_channel=True)
    assert report["fp32"]["max_abs_diff_vs_keras"] < 1e-4
    model = tmp_path / "models" / "seatbelt.int8.onnx"
    result = run_dmsd("evaluate", "--task", "seatbelt", "--data", str(SEATBELT / "person_crops" / "labels.csv"),
                      "--model", str(model), "--json")
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(result.stdout)
    assert evaluated["images"] == 516 and evaluated["n"] > 100 and evaluated["model"] == str(model)
