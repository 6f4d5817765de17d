"""python -m convert RUN_DIR --out models: export a trained run to FP32 and INT8 ONNX, verified.

RUN_DIR is a training run folder (python -m train ...): best.keras, export.json (task, labels, input spec)
and samples.npz (calib: training inputs, verify: held-out inputs, NHWC float32, already preprocessed).
Writes OUT/<task>.fp32.onnx, OUT/<task>.int8.onnx and RUN_DIR/conversion.json with the measured agreement.

    python -m convert RUN_DIR RUN_DIR ... --out models

Several runs (seeds of one recipe, or diverse networks) become one model of each precision that averages their
probabilities (convert/ensemble.py), each run converted and verified as above first. A member may also be an FP32
ONNX model already shipped (models/emotion.fp32.onnx), quantized here with the first run's calibration inputs.
--mirror averages each member's reading of the input and of its mirror image, --zoom adds a closer crop of its
centre, all in the same call.

    python -m convert RUN_DIR [RUN_DIR | FP32.onnx ...] --out models [--mirror] [--zoom 1.1]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from dmsd.errors import DmsdError

log = logging.getLogger("convert")


def convert(
    run: Path, out: Path, calib_size: int, method: str, quant_format: str, per_channel: bool, reduce_range: bool = True
) -> dict:
    import keras

    from convert.export import keras_to_onnx, nhwc_to_nchw, set_metadata
    from convert.quantize import quantize

    for name in ("best.keras", "export.json", "samples.npz"):
        if not (run / name).is_file():
            raise DmsdError(f"{run / name}: missing; is {run} a finished training run?")
    spec = json.loads((run / "export.json").read_text())
    samples = np.load(run / "samples.npz")
    calib, verify = samples["calib"][:calib_size], samples["verify"]
    model = keras.models.load_model(run / "best.keras", compile=False)
    task = spec["task"]
    out.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out / f"{task}.fp32.onnx", out / f"{task}.int8.onnx"

    keras_to_onnx(model, fp32)
    quantize(fp32, int8, nhwc_to_nchw(calib), method, quant_format, per_channel, reduce_range=reduce_range)
    extra = {"parameters": model.count_params(), "calibration": calibration_text(method, len(calib), reduce_range)}
    if "region" in spec:
        extra["region"] = json.dumps(spec["region"])  # where the frame is cut for it (dmsd.vision.stages.phone)
    set_metadata(fp32, task, spec["labels"], spec["input"], "fp32", extra)
    set_metadata(int8, task, spec["labels"], spec["input"], "int8", extra)

    reference = model.predict(verify, batch_size=256, verbose=0)
    report = {
        "task": task,
        "verify_inputs": len(verify),
        "calibration_inputs": len(calib),
        "method": method,
        "format": quant_format,
        "per_channel": per_channel,
        "reduce_range": reduce_range,
        "parameters": int(model.count_params()),
    }
    for name, path in (("fp32", fp32), ("int8", int8)):
        got = run_onnx(path, nhwc_to_nchw(verify))
        report[name] = {
            "max_abs_diff_vs_keras": float(np.abs(got - reference).max()),
            "top1_agreement_vs_keras": float((got.argmax(1) == reference.argmax(1)).mean()),
            "bytes": path.stat().st_size,
        }
        if "verify_labels" in samples:
            from dmsd.offline.metrics import classification_report

            report[name]["accuracy"] = float((got.argmax(1) == samples["verify_labels"]).mean())
            report[name]["report"] = classification_report(samples["verify_labels"], got.argmax(1), spec["labels"])
    if report["fp32"]["max_abs_diff_vs_keras"] > 1e-3:
        raise DmsdError(
            f"{fp32}: differs from Keras by {report['fp32']['max_abs_diff_vs_keras']:.2e}; the export is wrong"
        )
    (run / "conversion.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def ensemble(
    runs: list[Path],
    out: Path,
    calib_size: int,
    method: str,
    quant_format: str,
    per_channel: bool,
    reduce_range: bool,
    mirror: bool = False,
    zoom: float | None = None,
) -> dict:
    """Each member converted and verified on its own (a run folder, or a shipped FP32 .onnx quantized with the first
    run's calibration inputs), then their FP32 and INT8 models averaged into one of each (convert.ensemble), over the
    input and, with `mirror` and `zoom`, its views. Checked on the first run's held-out inputs: the FP32 ensemble is
    the members' mean over the views made here with OpenCV, and how often the INT8 ensemble picks its class."""
    import tempfile

    from convert.ensemble import average
    from convert.export import nhwc_to_nchw

    first = next((run for run in runs if run.is_dir()), None)
    if first is None:
        raise DmsdError("an ensemble needs a training run folder among its members (its calibration, held-out inputs)")
    samples = np.load(first / "samples.npz")
    verify = nhwc_to_nchw(samples["verify"])
    task = json.loads((first / "export.json").read_text())["task"]
    options = (calib_size, method, quant_format, per_channel, reduce_range)
    report: dict = {"members": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / f"member{i}" for i in range(len(runs))]
        for run, folder in zip(runs, folders, strict=True):
            if run.is_dir():
                report["members"][str(run)] = convert(run, folder, *options)
            else:
                report["members"][str(run)] = shipped_member(run, folder, task, samples, *options)
        out.mkdir(parents=True, exist_ok=True)
        outputs = {}
        for precision in ("fp32", "int8"):
            members = [folder / f"{task}.{precision}.onnx" for folder in folders]
            average(members, out / f"{task}.{precision}.onnx", mirror, zoom)
            outputs[precision] = [run_onnx(out / f"{task}.{precision}.onnx", verify)]
            for member in members:
                outputs[precision].append(np.mean([run_onnx(member, v) for v in views(verify, mirror, zoom)], axis=0))
    fp32, *fp32_members = outputs["fp32"]
    if float(np.abs(fp32 - np.mean(fp32_members, axis=0)).max()) > 1e-4:
        raise DmsdError(f"{out / f'{task}.fp32.onnx'}: is not its members' mean; the merge is wrong")
    agreement = float((outputs["int8"][0].argmax(1) == fp32.argmax(1)).mean())
    report["ensemble"] = {
        "members": len(runs),
        "mirror": mirror,
        "zoom": zoom,
        "int8_top1_agreement_vs_fp32": agreement,
    }
    if "verify_labels" in samples:
        for precision in ("fp32", "int8"):
            report["ensemble"][f"{precision}_accuracy"] = float(
                (outputs[precision][0].argmax(1) == samples["verify_labels"]).mean()
            )
    (first / "ensemble.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def views(faces: np.ndarray, mirror: bool, zoom: float | None) -> list[np.ndarray]:
    """NCHW inputs and the views convert.ensemble makes of them in the graph, made here with OpenCV instead: the
    centre 1/zoom resized back up (bilinear), and the mirror image of each."""
    import cv2

    from convert.ensemble import zoom_crop

    made = [faces]
    if zoom is not None:
        height, width = faces.shape[2:]
        left, top, crop_w, crop_h = zoom_crop(width, height, zoom)
        crops = faces[:, :, top : top + crop_h, left : left + crop_w]
        made.append(
            np.array(
                [[cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in face] for face in crops],
                dtype=np.float32,
            )
        )
    if mirror:
        made += [np.ascontiguousarray(view[..., ::-1]) for view in made]
    return made


def shipped_member(
    fp32_file: Path,
    folder: Path,
    task: str,
    samples: np.lib.npyio.NpzFile,
    calib_size: int,
    method: str,
    quant_format: str,
    per_channel: bool,
    reduce_range: bool,
) -> dict:
    """A member given as an FP32 ONNX model (no training run at hand): copied, and quantized with the calibration
    inputs of the ensemble's run folder; its INT8 agreement with FP32 is measured on that run's held-out inputs."""
    import shutil

    import onnx

    from convert.export import described, nhwc_to_nchw, set_metadata
    from convert.quantize import quantize

    if not fp32_file.is_file() or fp32_file.suffix != ".onnx":
        raise DmsdError(f"{fp32_file}: neither a training run folder nor an FP32 .onnx model")
    meta = {p.key: p.value for p in onnx.load(str(fp32_file)).metadata_props}
    if meta.get("dmsd.task") != task or meta.get("dmsd.precision") != "fp32":
        raise DmsdError(f"{fp32_file}: not an FP32 {task} model (dmsd.task, dmsd.precision); an ensemble shares them")
    folder.mkdir(parents=True)
    fp32, int8 = folder / f"{task}.fp32.onnx", folder / f"{task}.int8.onnx"
    shutil.copyfile(fp32_file, fp32)
    calib = nhwc_to_nchw(samples["calib"][:calib_size])
    quantize(fp32, int8, calib, method, quant_format, per_channel, reduce_range=reduce_range)
    extra = described(meta)
    extra["calibration"] = calibration_text(method, len(calib), reduce_range)
    set_metadata(int8, task, json.loads(meta["dmsd.labels"]), json.loads(meta["dmsd.input"]), "int8", extra)
    verify = nhwc_to_nchw(samples["verify"])
    reference = run_onnx(fp32, verify)
    return {
        "fp32_file": str(fp32_file),
        "int8": {"top1_agreement_vs_fp32": float((run_onnx(int8, verify).argmax(1) == reference.argmax(1)).mean())},
    }


def run_onnx(path: Path, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def calibration_text(method: str, inputs: int, reduce_range: bool) -> str:
    """The model's dmsd.calibration metadata: how its INT8 weights and activations were fitted."""
    return f"{method}, {inputs} training inputs, {7 if reduce_range else 8}-bit weights"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "run",
        type=Path,
        nargs="+",
        help="training run folder; several (or shipped FP32 .onnx models beside a run): one averaging model",
    )
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--calib-size", type=int, default=500, help="calibration inputs (default 500)")
    parser.add_argument("--method", default="minmax", choices=["minmax", "entropy", "percentile"])
    parser.add_argument("--format", dest="quant_format", default="qdq", choices=["qdq", "qoperator"])
    parser.add_argument("--per-tensor", action="store_true", help="per-tensor weights (default per-channel)")
    parser.add_argument(
        "--full-range-weights",
        action="store_true",
        help="8-bit weights instead of 7: only for CPUs with VNNI or ARM dot-product instructions; "
        "on x86 with AVX2 alone they saturate and lose accuracy (see convert/quantize.py)",
    )
    parser.add_argument(
        "--mirror",
        action="store_true",
        help="the model also reads the input's mirror image and averages the two (one call, a batch of two)",
    )
    parser.add_argument(
        "--zoom",
        type=float,
        default=None,
        help="the model also reads the centre 1/ZOOM of the input, scaled back up (e.g. 1.1; with --mirror, and its "
        "mirror image), and averages the views",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = (args.calib_size, args.method, args.quant_format, not args.per_tensor, not args.full_range_weights)
    try:
        if len(args.run) == 1 and not args.mirror and args.zoom is None:
            report = convert(args.run[0], args.out, *options)
        else:
            report = ensemble(args.run, args.out, *options, args.mirror, args.zoom)
    except DmsdError as exc:
        print(f"python -m convert: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
