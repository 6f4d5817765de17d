"""What each emotion lever is worth on FER2013's PublicTest, measured side by side on trained FP32 models: reading
the face's mirror image and a closer crop too (convert --mirror, --zoom), averaging several networks, and each way of
quantizing them (weight bits, per-channel or per-tensor, QDQ or QOperator, calibration method).

    .venv/bin/python -m scripts.emotion_levers models/emotion.fp32.onnx runs/other.fp32.onnx [--variants 0,1,2]

Each FP32 model is quantized here with the calibration inputs the shipped run drew (convert.requantize), so the
variants differ in one choice each; the views are made with OpenCV as convert's own check makes them. Accuracy is on
all 3,589 PublicTest faces, every combination of the models with every set of views; "rows" is how many the model
runs per face (its cost is about that many single calls). Prints a markdown table; --out keeps the rows as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from convert.export import nhwc_to_nchw
from convert.quantize import quantize
from convert.requantize import SHIPPED, emotion_inputs

# name: (format, per_channel, 7-bit weights, calibration method); the first is what convert/ ships.
VARIANTS = {
    "QDQ, per-channel, 7-bit weights, percentile": ("qdq", True, True, "percentile"),
    "QDQ, per-channel, 8-bit weights, percentile": ("qdq", True, False, "percentile"),
    "QDQ, per-tensor, 7-bit weights, percentile": ("qdq", False, True, "percentile"),
    "QDQ, per-tensor, 8-bit weights, percentile": ("qdq", False, False, "percentile"),
    "QOperator, per-channel, 7-bit weights, percentile": ("qoperator", True, True, "percentile"),
    "QDQ, per-channel, 7-bit weights, minmax": ("qdq", True, True, "minmax"),
    "QDQ, per-channel, 7-bit weights, entropy": ("qdq", True, True, "entropy"),
}


def probabilities(path: Path, faces: np.ndarray) -> np.ndarray:
    """The model's probabilities on NCHW faces, 256 at a time, one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: faces[i : i + 256]})[0] for i in range(0, len(faces), 256)])


VIEW_SETS = {  # what a model reads of each face, as convert --mirror / --zoom builds it into the graph
    "the face": [0],
    "+ its mirror image": [0, 2],
    "+ a closer crop, both mirrored": [0, 1, 2, 3],
}


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return round(float((probs.argmax(1) == labels).mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fp32", type=Path, nargs="+", help="trained emotion models, FP32 ONNX")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fer2013/fer2013.csv.gz"))
    parser.add_argument("--ferplus", type=Path, default=Path("../shared/data/fer2013/fer2013new.csv"))
    parser.add_argument("--variants", default="0,1", help="indices into VARIANTS: the INT8 files to measure")
    parser.add_argument("--zoom", type=float, default=1.1, help="the closer crop's zoom (convert --zoom)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from convert.__main__ import views

    calib, held_out, labels = emotion_inputs(args.data, args.ferplus, SHIPPED["emotion"]["seed"])
    calib = nhwc_to_nchw(calib[: SHIPPED["emotion"]["calib_size"]])
    faces = views(nhwc_to_nchw(held_out), mirror=True, zoom=args.zoom)  # face, closer crop, and their mirrors
    precisions = ["FP32", *(list(VARIANTS)[int(i)] for i in args.variants.split(","))]
    probs: dict[tuple[str, int], list[np.ndarray]] = {}  # (precision, model) -> probabilities per view
    agreement: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for m, fp32 in enumerate(args.fp32):
            for v, precision in enumerate(precisions):
                path = fp32
                if precision != "FP32":
                    fmt, per_channel, reduce_range, method = VARIANTS[precision]
                    path = Path(tmp) / f"m{m}v{v}.onnx"
                    quantize(fp32, path, calib, method, fmt, per_channel, "u8", reduce_range)
                probs[(precision, m)] = [probabilities(path, view) for view in faces]
                same = probs[(precision, m)][0].argmax(1) == probs[("FP32", m)][0].argmax(1)
                agreement[(precision, m)] = round(float(same.mean()), 4)
                print(fp32, precision, accuracy(probs[(precision, m)][0], labels), flush=True)
    rows = []
    for size in range(1, len(args.fp32) + 1):
        for members in itertools.combinations(range(len(args.fp32)), size):
            for precision in precisions:
                row = {
                    "members": [str(args.fp32[m]) for m in members],
                    "precision": precision,
                    "top1_agreement_vs_fp32": agreement[(precision, members[0])] if size == 1 else None,
                }
                for name, chosen in VIEW_SETS.items():
                    mean = np.mean([probs[(precision, m)][k] for m in members for k in chosen], axis=0)
                    row[name] = {"accuracy": accuracy(mean, labels), "rows_per_face": size * len(chosen)}
                rows.append(row)
    print("| members | precision | " + " | ".join(VIEW_SETS) + " | top-1 as FP32 |")
    print("| --- | --- | " + " | ".join("---" for _ in VIEW_SETS) + " | --- |")
    for row in rows:
        cells = [f"{row[name]['accuracy']:.2%} ({row[name]['rows_per_face']})" for name in VIEW_SETS]
        same = row["top1_agreement_vs_fp32"]
        print(
            f"| {' + '.join(row['members'])} | {row['precision']} | {' | '.join(cells)} | "
            f"{'-' if same is None or row['precision'] == 'FP32' else f'{same:.2%}'} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"cpu": cpu_flags(), "zoom": args.zoom, "rows": rows}, indent=2) + "\n")


def cpu_flags() -> list[str]:
    """The CPU's integer dot-product extensions, which decide whether 8-bit weights can saturate
    (convert/quantize.py): x86 VNNI, ARM's dot product."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = {word for line in text.splitlines() if line.startswith(("flags", "Features")) for word in line.split()}
    return sorted(flags & {"avx512_vnni", "avx_vnni", "asimddp"})


if __name__ == "__main__":
    main()
