"""The converters' shared frame (`python -m convert.landmarks`, `.blazeface`, `.blendshapes`): each converts and checks
its model in a temporary folder; the frame writes the checked model where it belongs, prints the report as JSON, and
turns a failure into one line on stderr and exit status 2."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from dmsd.errors import DmsdError


def run_conversion(prog: str, out: Path, convert: Callable[[Path], tuple[Path, dict]]) -> int:
    """`convert(work)` in a temporary folder `work` gives the checked model file and its report; the model is copied
    to `out` (a file path, its folder made if need be). prog: the command, for the error line."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            candidate, report = convert(Path(tmp))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(candidate.read_bytes())
    except DmsdError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0
