"""Where the repository, its samples and the shared data are."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The shared data beside the checkout; DMSD_SHARED_DATA for a copy of the tests run elsewhere (make mutation).
SHARED = Path(os.environ.get("DMSD_SHARED_DATA") or ROOT.parent / "shared" / "data")
SAMPLES = ROOT / "samples"
CLIP = SAMPLES / "incabin_belted_driver.mp4"
