"""What each emotion lever is worth on FER2013's PublicTest, measured side by side on trained FP32 models: test-time
mirroring, averaging several networks, and each way of quantizing them (weight bits, per-channel or per-tensor,
QDQ or QOperator, calibration method).

    .venv/bin/python -m scripts.emotion_levers models/emotion.fp32.onnx runs/other.fp32.onnx [--out levers.json]

Each FP32 model is quantized here with the calibration inputs the shipped run drew (convert.requantize), so the
variants differ in one choice each. Accuracy is on all 3,589 PublicTest faces; the model card's tables are these
rows. Prints a markdown table; --out keeps the rows as JSON.
"""

from __future__ import annotations

import argparse
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


def scores(views: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Accuracy of the first view alone and of all views averaged (the face and its mirror image)."""
    return {
        "accuracy": round(float((views[0].argmax(1) == labels).mean()), 4),
        "mirrored": round(float((np.mean(views, axis=0).argmax(1) == labels).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fp32", type=Path, nargs="+", help="trained emotion models, FP32 ONNX")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fer2013/fer2013.csv.gz"))
    parser.add_argument("--ferplus", type=Path, default=Path("../shared/data/fer2013/fer2013new.csv"))
    parser.add_argument("--variants", default=",".join(str(i) for i in range(len(VARIANTS))), help="indices to run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    calib, held_out, labels = emotion_inputs(args.data, args.ferplus, SHIPPED["emotion"]["seed"])
    calib = nhwc_to_nchw(calib[: SHIPPED["emotion"]["calib_size"]])
    faces = nhwc_to_nchw(held_out)
    mirror = np.ascontiguousarray(faces[..., ::-1])
    chosen = [list(VARIANTS)[int(i)] for i in args.variants.split(",")]
    rows, views = [], {}  # views[(precision, model)] = [plain, mirrored] probabilities
    with tempfile.TemporaryDirectory() as tmp:
        for m, fp32 in enumerate(args.fp32):
            views[("FP32", m)] = [probabilities(fp32, faces), probabilities(fp32, mirror)]
            rows.append({"model": str(fp32), "precision": "FP32", **scores(views[("FP32", m)], labels)})
            print(rows[-1], flush=True)
            for v, name in enumerate(chosen):
                fmt, per_channel, reduce_range, method = VARIANTS[name]
                int8 = Path(tmp) / f"m{m}v{v}.onnx"
                quantize(fp32, int8, calib, method, fmt, per_channel, "u8", reduce_range)
                views[(name, m)] = [probabilities(int8, faces), probabilities(int8, mirror)]
                agreement = float((views[(name, m)][0].argmax(1) == views[("FP32", m)][0].argmax(1)).mean())
                rows.append(
                    {
                        "model": str(fp32),
                        "precision": name,
                        **scores(views[(name, m)], labels),
                        "top1_agreement_vs_fp32": round(agreement, 4),
                    }
                )
                print(rows[-1], flush=True)
    if len(args.fp32) > 1:
        for precision in ["FP32", *chosen]:
            members = [views[(precision, m)] for m in range(len(args.fp32))]
            averaged = [np.mean([member[k] for member in members], axis=0) for k in range(2)]
            rows.append({"model": f"mean of {len(members)}", "precision": precision, **scores(averaged, labels)})
            print(rows[-1], flush=True)
    print("| model | precision | PublicTest | with its mirror image | top-1 as FP32 |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        agreement = f"{row['top1_agreement_vs_fp32']:.2%}" if "top1_agreement_vs_fp32" in row else "-"
        print(f"| {row['model']} | {row['precision']} | {row['accuracy']:.2%} | {row['mirrored']:.2%} | {agreement} |")
    if args.out:
        args.out.write_text(json.dumps({"cpu": cpu_flags(), "rows": rows}, indent=2) + "\n")


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
