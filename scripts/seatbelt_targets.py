"""The seatbelt model's targets through the daemon's own pipeline, for one or more models and configurations:
person_crops valid (faces found, accuracy where scored, not-worn recall); the real clips' frames against their true
labels (train/labels/belt_clips.csv), per person, the bundled clip's unbelted end among them; and the
`seatbelt_unfastened` events the daemon's state tracker raises on the bundled clip.

    python -m scripts.seatbelt_targets MODEL.onnx [MODEL.onnx ...] [--config PATH ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from convert.card import valid_labels
from dmsd.commands.evaluate import evaluate_seatbelt, evaluate_seatbelt_clips, file_frames, seatbelt_analyzer
from dmsd.config import Config, load_config
from dmsd.driver.state import DriverStateTracker

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CROPS = DATA / "seatbelt" / "person_crops"
CLIP = DATA / "driver_video" / "incabin_belted_driver.mp4"
CLIPS = ROOT / "train" / "labels" / "belt_clips.csv"


def clip_events(config: Config, model: str) -> list[str]:
    """The seatbelt events the daemon's state tracker raises over the clip, as the daemon would."""
    analyzer = seatbelt_analyzer(config, model, video=True)
    tracker = DriverStateTracker(config.state, config.alertness, config.phone)
    events = []
    for frame in file_frames(config, str(CLIP)):
        events += [
            e.type
            for e in tracker.update(analyzer.analyze(frame.image, frame.name, frame.ts))
            if e.type.startswith("seatbelt_")
        ]
    return events


def targets(config: Config, model: str, labels: Path) -> dict:
    crops = evaluate_seatbelt(config, str(labels), model)
    clips = evaluate_seatbelt_clips(config, str(CLIPS), str(DATA), model)
    events = clip_events(config, model)
    people = {f"{person}_right": row["right_share"] for person, row in clips["people"].items() if row["judged"]}
    return {
        "crops_faces": crops["face_share"],
        "crops_scored": crops["n"],
        "crops_images": crops["images"],
        "crops_accuracy": crops["accuracy"],
        "not_worn_recall": crops["per_class"]["not_worn"]["recall"],
        "worn_recall": crops["per_class"]["worn"]["recall"],
        **people,
        "bundled_unbelted_right": _unbelted_right(clips["people"]["bundled"]),
        "clip_unfastened_events": events.count("seatbelt_unfastened"),
    }


def _unbelted_right(row: dict) -> float | None:
    judged = row["unbelted_judged"]
    return round(1 - row["unbelted_read_worn"] / judged, 4) if judged else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--config", action="append", default=[], help="configurations to compare (default: built-in)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        labels = valid_labels(CROPS, Path(tmp))
        for config_path in args.config or [None]:
            config = load_config(Path(config_path)) if config_path else Config()
            config = replace(config, models=replace(config.models, intra_op_threads=1))
            for model in args.models:
                row = {"model": model, "config": config_path or "defaults", **targets(config, model, labels)}
                results.append(row)
                if not args.json:
                    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
