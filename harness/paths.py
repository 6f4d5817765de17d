"""Where the repository, its samples and the shared data are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SAMPLES = ROOT / "samples"
CLIP = SAMPLES / "incabin_belted_driver.mp4"
