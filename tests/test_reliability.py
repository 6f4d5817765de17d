"""The reliability script (README, "Reliability"): every one of its rows run here at tiny counts, so a broken import
or a row that crashes fails the suite; and the fuzz row at the corpus CI can afford. The full counts come from
`python -m scripts.reliability`. A row this machine cannot run (a missing tool or kernel feature) is skipped, and
the script's own words say why."""

import ast
import json
import subprocess
import sys

import pytest

from harness import ROOT, SAMPLES, run_dmsd

ROWS = ["outages", "kill", "bridge", "stall", "fuzz", "hardening", "auth"]


def reliability(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.reliability", "--json", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def tiny_run() -> dict:
    """Every row once, at the smallest counts that still exercise it (about 45 s)."""
    tiny = ["--outages", "1", "--kills", "1", "--cuts", "1", "--stalls", "1", "--images", "4", "--configs", "3"]
    return reliability(*tiny)


def check(name: str, row: dict) -> None:
    """What the README claims of the row, at any count (how fast a stall is noticed is the full run's to measure)."""
    if name in ("outages", "kill", "bridge"):
        assert row["raised"] > 0 and row["lost"] == 0 and row["twice"] == 0 and row["order kept"] is True
    if name == "outages":
        assert row["events in every outage"] is True
    elif name == "stall":
        assert row["tries"] == 1 and row["max s"] > 0  # the camera was lost, noticed, and came back
    elif name == "fuzz":
        assert row["tracebacks"] == 0 and row["unclear"] == 0
        assert row["analysed"] + row["refused, one line each"] == row["images"]
    elif name == "hardening":
        assert row["exposure"] <= 2.0
        assert row["confined run exit"] == 0 and row["confined run face found"] and not row["tracebacks"]
    elif name == "auth":
        assert row["right credentials"] == "connected"
        assert row["wrong password"].startswith("refused, 1 line: ") and "Not authorized" in row["wrong password"]
        assert (
            row["untrusted CA"].startswith("refused, 1 line: ") and "CERTIFICATE_VERIFY_FAILED" in row["untrusted CA"]
        )


@pytest.mark.parametrize("name", ROWS)
def test_every_row_of_the_reliability_script_runs_and_holds(tiny_run, name):
    assert list(tiny_run) == ROWS  # each row in the table, none lost to a crash
    row = tiny_run[name]
    if "skipped" in row:
        pytest.skip(f"reliability row {name}: {row['skipped']}")
    check(name, row)


def test_the_script_imports_only_dmsd_and_the_harness():
    """Not a test module (pytest's path is not the script's), nor anything else of the repository's."""
    tree = ast.parse((ROOT / "scripts" / "reliability.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = {name.split(".")[0] for name in imported}
    ours = {name for name in ours if (ROOT / name).is_dir() or (ROOT / "tests" / f"{name}.py").exists()}
    assert ours <= {"dmsd", "harness"}


def test_mutated_images_and_configs_get_one_clear_line_each():
    row = reliability("--only", "fuzz", "--images", "120", "--configs", "30")["fuzz"]
    assert row["tracebacks"] == 0 and row["unclear"] == 0
    assert row["analysed"] + row["refused, one line each"] == 120
    assert 0 < row["configs refused, one line each"] < 30  # some mutations are still valid configs


def test_a_jpeg_with_corrupt_data_is_refused_in_one_line(tmp_path):
    data = bytearray((SAMPLES / "cabin_frame060.jpg").read_bytes())
    for i in range(2000, len(data) - 2000, 997):  # bytes of the compressed picture flipped, the markers intact
        data[i] ^= 0x5A
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(data))
    result = run_dmsd("--once", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"{bad}: corrupt image data (Corrupt JPEG data" in result.stderr
