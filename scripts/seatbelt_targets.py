"""The seatbelt model's targets through the daemon's own pipeline, for one or more models and configurations:
person_crops valid (faces found, accuracy where scored, not-worn recall), the belted clip's frames seen as worn,
and the `seatbelt_unfastened` events the daemon's state tracker raises on the clip.

    python -m scripts.seatbelt_targets MODEL.onnx [MODEL.onnx ...] [--config PATH ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from convert.card import valid_labels
from dmsd.commands.evaluate import evaluate_seatbelt, evaluate_seatbelt_video, file_frames, seatbelt_analyzer
from dmsd.config import Config, load_config
from dmsd.driver.state import DriverStateTracker

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CROPS = DATA / "seatbelt" / "person_crops"
CLIP = DATA / "driver_video" / "incabin_belted_driver.mp4"


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
    clip = evaluate_seatbelt_video(config, str(CLIP), model, "worn")
    events = clip_events(config, model)
    return {
        "crops_faces": crops["face_share"],
        "crops_scored": crops["n"],
        "crops_images": crops["images"],
        "crops_accuracy": crops["accuracy"],
        "not_worn_recall": crops["per_class"]["not_worn"]["recall"],
        "worn_recall": crops["per_class"]["worn"]["recall"],
        "clip_worn": clip["accuracy"],
        "clip_scored": clip["n"],
        "clip_unfastened_events": events.count("seatbelt_unfastened"),
    }


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
