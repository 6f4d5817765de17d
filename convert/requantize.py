"""python -m convert.requantize --task emotion|seatbelt: a shipped model's INT8 file made again from its FP32 file.

    python -m convert.requantize --task emotion --models models
    python -m convert.requantize --task seatbelt --models models
    python -m convert.requantize --task emotion --full-weights   # emotion.int8.w8.onnx, for x86 CPUs with VNNI

For when the quantizer changes and the training run folder is not at hand: the FP32 model in `--models` is
quantized with the same calibration inputs its training run drew (emotion: the trainer's random draw of FER2013
Training faces, FER+ not-a-face rows dropped; seatbelt: the first training regions of the shipped recipe's
sources, cut by the daemon's own face detector and chest geometry), then INT8 and FP32 are compared on held-out
inputs (PublicTest faces; the validation regions). Refuses to write a model whose top-1 agreement with FP32 is
below --min-agreement.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError

log = logging.getLogger("convert.requantize")
# What the shipped runs used (models/README.md, "Reproduce"): calibration method and size, training seed.
SHIPPED = {
    "emotion": {"method": "percentile", "calib_size": 500, "seed": 2},
    "seatbelt": {"method": "minmax", "calib_size": 450, "sources": ("person_crops", "incabin_belt_boxes")},
}


def emotion_inputs(data: Path, ferplus: Path, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibration inputs as train/emotion.py draws them, and PublicTest with its labels (NHWC float32)."""
    from train import fer2013
    from train.emotion import to_input

    train = fer2013.load(data, "Training")
    keep = fer2013.ferplus_votes(ferplus, train).sum(axis=1) > 0
    train = train.subset(np.flatnonzero(keep))
    x_train = to_input(train.images)
    calib = x_train[np.random.default_rng(seed).permutation(len(x_train))[:1000]]
    held_out = fer2013.load(data, "PublicTest")
    return calib, to_input(held_out.images), held_out.labels


def seatbelt_inputs(data: Path, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training regions in the order train/seatbelt.py writes them, and the validation regions with labels."""
    from dmsd.config import ChestConfig, DetectorConfig
    from train import seatbelt_data

    samples = []
    for name in SHIPPED["seatbelt"]["sources"]:
        samples += seatbelt_data.SOURCES[name](data / name)
    built = seatbelt_data.build(samples, DetectorConfig(), ChestConfig(), side, person_box_fallback=True)
    x = (built["x"].astype(np.float32) / 255.0)[..., None]
    train = built["split"] == "train"
    return x[train][:1000], x[~train], built["y"][~train]


def requantize(
    task: str, models: Path, data: Path, ferplus: Path, min_agreement: float, full_weights: bool = False
) -> dict:
    """full_weights: write `<task>.int8.w8.onnx`, with full 8-bit weights, for the CPUs that run them exactly
    (dmsd.vision.int8_weights), instead of the 7-bit `<task>.int8.onnx`."""
    import onnx
    import onnxruntime as ort

    from convert.__main__ import calibration_text
    from convert.export import described, nhwc_to_nchw, set_metadata
    from convert.quantize import quantize
    from dmsd.vision.int8_weights import full_weights_exact, full_weights_file

    fp32, int8 = models / f"{task}.fp32.onnx", models / f"{task}.int8.onnx"
    if not fp32.is_file():
        raise DmsdError(f"{fp32}: no such FP32 model to quantize")
    if full_weights:
        if not full_weights_exact():
            raise DmsdError(
                "--full-weights: this CPU saturates full 8-bit weights (x86 without VNNI), so the file cannot be "
                "checked here; make it on an x86 CPU with VNNI"
            )
        int8 = full_weights_file(int8)
    meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
    spec = json.loads(meta["dmsd.input"])
    shipped = SHIPPED[task]
    if task == "emotion":
        calib, held_out, labels = emotion_inputs(data, ferplus, shipped["seed"])
    else:
        calib, held_out, labels = seatbelt_inputs(data, spec["size"][0])
    calib = nhwc_to_nchw(calib[: shipped["calib_size"]])
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / int8.name
        quantize(fp32, candidate, calib, shipped["method"], reduce_range=not full_weights)
        set_metadata(
            candidate,
            task,
            json.loads(meta["dmsd.labels"]),
            spec,
            "int8",
            {  # what the FP32 file says of itself (parameters, members, views), and how this file was fitted
                **described(meta),
                "calibration": calibration_text(shipped["method"], len(calib), not full_weights),
            },
        )
        report = {
            "task": task,
            "file": str(int8),
            "held_out_inputs": len(held_out),
            "calibration_inputs": len(calib),
        }
        top1 = {}
        for name, path in (("fp32", fp32), ("int8", candidate)):
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            top1[name] = session.run(None, {session.get_inputs()[0].name: nhwc_to_nchw(held_out)})[0].argmax(1)
            report[f"{name}_accuracy"] = round(float((top1[name] == labels).mean()), 4)
        report["top1_agreement"] = round(float((top1["fp32"] == top1["int8"]).mean()), 4)
        if report["top1_agreement"] < min_agreement:
            raise DmsdError(
                f"INT8 agrees with FP32 on {report['top1_agreement']:.2%} of held-out inputs, under "
                f"--min-agreement {min_agreement:.0%}; {int8} left as it was"
            )
        int8.write_bytes(candidate.read_bytes())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convert.requantize", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", required=True, choices=sorted(SHIPPED))
    parser.add_argument("--models", type=Path, default=Path("models"), help="folder with <task>.fp32.onnx")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="emotion: FER2013 CSV (default ../shared/data/fer2013/fer2013.csv.gz); "
        "seatbelt: the seatbelt sources' folder (default ../shared/data/seatbelt)",
    )
    parser.add_argument(
        "--ferplus",
        type=Path,
        default=Path("../shared/data/fer2013/fer2013new.csv"),
        help="emotion: FER+ votes, whose not-a-face rows the trainer dropped",
    )
    # Saturating 8-bit weights agreed on 78-80% (convert/quantize.py); sound files on 94-98% (the shipped emotion
    # model, four views of each face, 94.3%; the seatbelt model 97.8%).
    parser.add_argument("--min-agreement", type=float, default=0.92, help="least INT8/FP32 top-1 agreement")
    parser.add_argument(
        "--full-weights",
        action="store_true",
        help="write <task>.int8.w8.onnx with full 8-bit weights, which the daemon opens instead on x86 CPUs with "
        "VNNI (made and checked on such a CPU)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data = args.data or Path(
        "../shared/data/fer2013/fer2013.csv.gz" if args.task == "emotion" else "../shared/data/seatbelt"
    )
    try:
        report = requantize(args.task, args.models, data, args.ferplus, args.min_agreement, args.full_weights)
    except DmsdError as exc:
        print(f"python -m convert.requantize: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
