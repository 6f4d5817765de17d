"""Static INT8 quantization with onnxruntime.quantization over real calibration inputs.

Weights are quantized to 7 bits (`reduce_range`) by default. On an x86 CPU with AVX2 but without VNNI (many
in-vehicle PCs, AMD Zen 2/3, Intel before Ice Lake), ONNX Runtime multiplies u8 activations by s8 weights with
`vpmaddubsw`, whose int16 sums of two products saturate with full 8-bit weights: measured on such a CPU, the
shipped emotion model fell from 65.3% (FP32) to 56.8% on PublicTest and the seatbelt model's not-worn recall from
77% to 37%. 7-bit weights cannot saturate there; they cost 0.45 points on PublicTest and no time. CPUs with VNNI
or ARM dot-product instructions do not saturate, so `reduce_range=False` is safe only on those.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from dmsd.errors import DmsdError

METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
MIN_CALIBRATION = 32


class ArrayReader(CalibrationDataReader):
    """Feeds calibration inputs one at a time, as the daemon will (batch 1)."""

    def __init__(self, input_name: str, inputs: np.ndarray):
        self.input_name, self.inputs, self.position = input_name, inputs, 0

    def get_next(self):
        if self.position >= len(self.inputs):
            return None
        batch = self.inputs[self.position : self.position + 1]
        self.position += 1
        return {self.input_name: batch}

    def rewind(self):
        self.position = 0


def quantize(
    fp32: Path,
    int8: Path,
    calibration: np.ndarray,
    method: str = "minmax",
    quant_format: str = "qdq",
    per_channel: bool = True,
    activations: str = "u8",
    reduce_range: bool = True,
) -> None:
    if len(calibration) < MIN_CALIBRATION:
        raise DmsdError(f"calibration set has {len(calibration)} inputs; at least {MIN_CALIBRATION} are needed")
    if method not in METHODS:
        raise DmsdError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
    import onnx
    import onnxruntime as ort

    input_name = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=False)
        # A quantized Softmax gives probabilities in 1/255 steps that no longer sum to 1: keep it in float.
        softmax = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Softmax"]
        # The calibrators print progress on stdout, where our commands write their JSON report.
        with contextlib.redirect_stdout(sys.stderr):
            quantize_static(
                str(prepared),
                str(int8),
                ArrayReader(input_name, calibration),
                nodes_to_exclude=softmax,
                quant_format=QuantFormat.QDQ if quant_format == "qdq" else QuantFormat.QOperator,
                per_channel=per_channel,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8 if activations == "u8" else QuantType.QInt8,
                calibrate_method=METHODS[method],
                reduce_range=reduce_range,
            )
