"""Measure the README's accuracy figures again and check that the README still says them (the eye, yawn-frame and
phone figures; the seatbelt's come from `python -m scripts.seatbelt_targets`, the emotion model's from its card).

    .venv/bin/python -m scripts.readme_figures [--only NAME ...]

Each figure is produced by the command a reader would run (`dmsd evaluate ...`, through the daemon's own code) and
looked for, as the README prints it, in README.md. A figure that moved is printed with both values, and the script
exits 1: the README is then updated from the new measurement, never the other way round. Timings are not checked
here (they move with the machine; the README names the run they come from).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
DMSD = [sys.executable, "-m", "dmsd"]


def evaluate(*args: str) -> dict:
    out = subprocess.run([*DMSD, "evaluate", *args, "--json"], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"dmsd evaluate {' '.join(args)}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def eyes_valid() -> list[str]:
    """The configured eye rule's still verdict on the eye set's held-out faces (its first row)."""
    rule = evaluate("--task", "eyes", "--data", str(SHARED / "eyes" / "roboflow_eye_detector"), "--split", "valid")[
        "rules"
    ][0]
    right = round(rule["accuracy"] * rule["judged"])
    return [f"**{right} of {rule['judged']}** faces the mesh measures ({rule['accuracy'] * 100:.1f}%"]


def eyes_in_cars() -> list[str]:
    rows = (ROOT / "tests" / "labels" / "yawdd_eye_states.csv").read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "labels.csv"
        folder = SHARED / "yawn" / "yawdd_frames"
        labels.write_text("\n".join([rows[0]] + [f"{folder / row}" for row in rows[1:]]) + "\n")
        rule = evaluate("--task", "eyes", "--data", str(labels))["rules"][0]
    return [f"**{pct(rule['accuracy'])}** right"]


def phone_held_out() -> list[str]:
    """The shipped phone model on the shared clips of the people it never learned from (train/labels/phone_clips.csv,
    the trainer's --test-people)."""
    from train.phone import TEST_PEOPLE

    lines = (ROOT / "train" / "labels" / "phone_clips.csv").read_text().splitlines()
    people = TEST_PEOPLE.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        spans = Path(tmp) / "spans.csv"
        rows = [line for line in lines[1:] if next(csv.reader([line]))[3] in people]
        spans.write_text("\n".join([lines[0], *rows]) + "\n")
        report = evaluate("--task", "phone", "--data", str(spans), "--root", str(SHARED))
    return [
        f"`phone_use` on {report['free_clips_false']} of {report['free_clips']} phone-free clips of people it never "
        f"learned from, a phone read on {report['none_read_phone']} of their {report['none_frames']} frames"
    ]


@dataclass(frozen=True)
class Figure:
    name: str
    measure: Callable[[], list[str]]  # the texts the README must contain, as measured now


FIGURES = [
    Figure("eyes-valid", eyes_valid),
    Figure("eyes-in-cars", eyes_in_cars),
    Figure("phone", phone_held_out),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=[f.name for f in FIGURES], help="check only these figures")
    args = parser.parse_args()
    readme = " ".join((ROOT / "README.md").read_text().split())  # line breaks do not matter
    drifted = 0
    for figure in FIGURES:
        if args.only and figure.name not in args.only:
            continue
        for text in figure.measure():
            found = " ".join(text.split()) in readme
            drifted += not found
            print(f"{'ok   ' if found else 'MOVED'} {figure.name}: {' '.join(text.split())!r}")
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
