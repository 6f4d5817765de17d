"""`dmsd once PATH ...` (or `dmsd --once PATH ...`): analyse still images, one JSON line each on stdout;
`--annotate DIR` draws them."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

from dmsd.commands.command import Override
from dmsd.config import Config
from dmsd.errors import DmsdError
from dmsd.frames.images import list_images, read_image
from dmsd.publish.annotate import draw
from dmsd.publish.payloads import result_payload
from dmsd.vision.analyzer import Analyzer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="an image, or a directory of images")
    parser.add_argument("--annotate", metavar="DIR", help="write each image with the results drawn")


def overrides(args: argparse.Namespace) -> list[Override]:
    return []


def run(config: Config, args: argparse.Namespace) -> int:
    return run_once(config, args.paths, args.annotate)


def expand(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files to analyse, in the order given (directories expanded by name), and one error line per bad input."""
    files, errors = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            try:
                files += list_images(path)
            except DmsdError as exc:
                errors.append(str(exc))
        else:
            files.append(path)
    return files, errors


def run_once(config: Config, inputs: list[str], annotate: str | None) -> int:
    files, errors = expand(inputs)
    for error in errors:
        print(f"dmsd: {error}", file=sys.stderr)
    analyzer = Analyzer.from_config(config, video=False)
    out_dir = Path(annotate) if annotate else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    failed = bool(errors)
    for path in files:
        try:
            image = read_image(path)
        except DmsdError as exc:
            print(f"dmsd: {exc}", file=sys.stderr)
            failed = True
            continue
        result = analyzer.analyze(image, str(path), time.time())
        print(json.dumps(result_payload(result, config.eyes)), flush=True)
        if out_dir is not None:
            target = out_dir / (path.stem + ".jpg")
            if not cv2.imwrite(str(target), draw(image, result, analyzer, config.eyes)):
                print(f"dmsd: {target}: cannot write the annotated image", file=sys.stderr)
                failed = True
    return 2 if failed else 0
