"""The reliability script's rows that CI can afford: a small fuzz corpus, and the unit's hardening with the daemon
run under it. The full counts (README, "Reliability") come from `python -m scripts.reliability`."""

import ctypes
import json
import os
import shutil
import subprocess
import sys

import pytest

from harness import ROOT, SAMPLES, run_dmsd


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


def mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(66, 0, 0, 0, 0) >= 0  # PR_GET_MDWE: Linux 6.3 or later


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.skipif(
    not os.path.exists("/usr/lib/x86_64-linux-gnu/libseccomp.so.2")
    and not os.path.exists("/usr/lib/aarch64-linux-gnu/libseccomp.so.2"),
    reason="no libseccomp",
)
@pytest.mark.skipif(not mdwe_supported(), reason="the kernel has no PR_SET_MDWE (Linux 6.3 or later)")
def test_the_unit_is_hardened_and_the_daemon_runs_under_its_filters():
    row = reliability("--only", "hardening")["hardening"]
    assert row["exposure"] <= 2.0
    assert row["confined run exit"] == 0 and row["confined run face found"] and not row["tracebacks"]
