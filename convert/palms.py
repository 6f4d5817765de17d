"""python -m convert.palms: MediaPipe's palm detector (the lite model), from PyPI's mediapipe wheel to models/,
verified.

    python -m convert.palms [--wheel PATH] [--out models]

pip downloads the mediapipe 0.10.14 wheel (as `python -m convert.landmarks` does; never installed), and
`palm_detection_lite.tflite` is read out of it and checked against a pinned SHA-256. tf2onnx converts it (opset 17,
NCHW input), its outputs are named `boxes` and `scores`, and the dmsd metadata is written (`dmsd.task` palms), with
`dmsd.detector` carrying what decoding needs: the SSD anchor options, output names, box scale, keypoints and the
non-max suppression, as MediaPipe's palm detection graph (palm_detection_cpu.pbtxt) configures them. The ONNX model
is then run beside TensorFlow's own TFLite interpreter on real frames, letterboxed by the runtime's own code
(dmsd.vision.hands): every 10th frame of the near-infrared calling clips, where a hand holds a phone at the ear, and
frames 124-140 of the bundled clip, where the driver's hands pull the belt off; refused, in one line with exit
status 2, if a raw output differs by more than the tolerances below (as convert.blazeface checks BlazeFace).
Writes OUT/palms.fp32.onnx and prints the check as JSON.

The wheel holds a lite and a full palm model, with the same inputs, outputs and anchors. Lite ships: on the
near-infrared calling clips (every 5th frame of three) it found the hand at the ear on 24 of 30 frames, full on 10;
on the bundled clip's frames 100-149 lite found a hand on 7, full on 12 (its hands are small there, about 13 px of
the 192); frames 0-99 (no hand in view) gave lite 11 palms and full 10. On one core (2-core AMD EPYC, loaded) lite's
`find` took 15.6 ms p50 on a 450x336 frame, full's 18.5 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from convert.archive import read_member
from convert.blazeface import ANCHORS as BLAZEFACE_ANCHORS
from convert.blazeface import check_or_refuse, compare_ssd_with_tflite, ssd_to_onnx
from convert.frame import run_conversion
from convert.landmarks import WHEEL, download_wheel

log = logging.getLogger("convert.palms")
MEMBER = "mediapipe/modules/palm_detection/palm_detection_lite.tflite"
SHA256 = "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18"
INPUT = {"size": [192, 192], "colour": "rgb", "layout": "NCHW", "scale": 1 / 255.0, "offset": 0.0}
# MediaPipe's palm detection graph: the same SsdAnchorsCalculator options as BlazeFace's short range (4 layers,
# strides 8, 16, 16, 16, scales 0.1484375 to 0.75, one aspect ratio, fixed size), on a 192 x 192 input: 2016 anchors.
ANCHORS = {**BLAZEFACE_ANCHORS, "input_size_width": 192, "input_size_height": 192}
DETECTOR = {
    "input_size": [192, 192],
    "anchors": ANCHORS,
    "num_anchors": 2016,
    "boxes": "boxes",  # 2016 x 18: box centre x, y, width, height, then 7 keypoints' x, y, in input pixels
    "scores": "scores",  # 2016 x 1: palm-score logits (sigmoid, clipped to +-100 first; min score 0.5)
    "box_scale": [192.0, 192.0, 192.0, 192.0],
    "keypoints": 7,
    "nms": {"algorithm": "weighted", "iou": 0.3},
}
TFLITE_OUTPUTS = ("Identity", "Identity_1")  # box numbers, score logits
MAX_BOX_DIFF = 0.01  # input pixels of 192
MAX_LOGIT_DIFF = 0.01
MAX_RELATIVE_DIFF = 1e-4
NIR_CALLING = "driver_video/nir_incar/calling"
BELT_FRAMES = (124, 141)  # the bundled clip: his hands pull the belt off


def read_tflite(work: Path, wheel: Path | None = None) -> Path:
    """palm_detection_lite.tflite out of the mediapipe wheel (downloaded with pip unless given), SHA-256 checked."""
    return read_member(wheel or download_wheel(work), MEMBER, SHA256, work / Path(MEMBER).name)


def tflite_to_onnx(tflite: Path, out: Path) -> None:
    """tf2onnx with NCHW input; outputs renamed boxes and scores; the dmsd metadata written."""
    props = {
        "dmsd.task": "palms",
        "dmsd.input": json.dumps(INPUT),
        "dmsd.detector": json.dumps(DETECTOR),
        "dmsd.precision": "fp32",
        "dmsd.source": f"{WHEEL} wheel, {MEMBER}, sha256 {SHA256}",
        "dmsd.licence": "Apache-2.0 (MediaPipe)",
    }
    renames = dict(zip(TFLITE_OUTPUTS, (DETECTOR["boxes"], DETECTOR["scores"]), strict=True))
    ssd_to_onnx(tflite, out, "input_1", renames, props)


def frames(nir_every: int = 10) -> list[np.ndarray]:
    """Grey frames: every `nir_every`th of each NIR calling clip, and the bundled clip's BELT_FRAMES."""
    from harness.clips import grey_frames
    from harness.paths import CLIP, SHARED

    found = []
    for clip in sorted((SHARED / NIR_CALLING).glob("*.avi")):
        found += grey_frames(clip, nir_every)
    if not found:
        log.warning("%s: no clips, left out of the check", SHARED / NIR_CALLING)
    return found + grey_frames(CLIP)[slice(*BELT_FRAMES)]


def compare_with_tflite(onnx_path: Path, tflite: Path, grey_frames: list[np.ndarray]) -> dict:
    """The ONNX model against TFLite's interpreter on these frames, letterboxed as dmsd.vision.hands does."""
    from dmsd.vision.hands import PalmDetector

    detector = PalmDetector(onnx_path)
    inputs = np.concatenate([detector.letterbox(grey)[0] for grey in grey_frames])
    return compare_ssd_with_tflite(detector, tflite, inputs, TFLITE_OUTPUTS, "palm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convert.palms", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} wheel (default: pip downloads it)")
    parser.add_argument("--out", type=Path, default=Path("models"))
    args = parser.parse_args(argv)

    def convert(work: Path) -> tuple[Path, dict]:
        tflite = read_tflite(work, args.wheel)
        candidate = work / "palms.fp32.onnx"
        tflite_to_onnx(tflite, candidate)
        report = {
            "source": f"{WHEEL}: {MEMBER}",
            "sha256": SHA256,
            "onnx_vs_tflite": compare_with_tflite(candidate, tflite, frames()),
        }
        check_or_refuse(report["onnx_vs_tflite"], MAX_BOX_DIFF, MAX_LOGIT_DIFF, MAX_RELATIVE_DIFF)
        return candidate, report

    return run_conversion("python -m convert.palms", args.out / "palms.fp32.onnx", convert)


if __name__ == "__main__":
    sys.exit(main())
