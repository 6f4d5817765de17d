"""Which INT8 file this CPU should run: the one with 7-bit weights, safe everywhere, or full 8-bit weights beside it.

ONNX Runtime multiplies u8 activations by s8 weights. On x86 without VNNI it does so with `vpmaddubsw`, whose int16
sums of two products saturate with full 8-bit weights, so every shipped INT8 file holds 7-bit weights (convert/
quantize.py). On x86 with VNNI (`vpdpbusd`, 32-bit sums) full 8-bit weights are exact and closer to FP32, so a file
with them, `<task>.int8.w8.onnx` beside `<task>.int8.onnx`, is opened there instead (models/README.md, "What
quantization costs, by kind of CPU"). Other CPUs keep the 7-bit file: they were not measured.
"""

from __future__ import annotations

import platform
from pathlib import Path

FULL_WEIGHTS_SUFFIX = ".w8.onnx"  # emotion.int8.onnx -> emotion.int8.w8.onnx
EXACT_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})  # x86 instructions that sum u8 x s8 products in 32 bits


def full_weights_exact(cpuinfo: str | None = None, machine: str | None = None) -> bool:
    """Whether this CPU's INT8 kernels multiply full 8-bit weights without saturating (x86 with VNNI)."""
    if (machine or platform.machine()).lower() not in ("x86_64", "amd64"):
        return False
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    flags = {word for line in cpuinfo.splitlines() if line.startswith("flags") for word in line.split()}
    return bool(flags & EXACT_FLAGS)


def full_weights_file(path: Path) -> Path:
    """The file with full 8-bit weights that may sit beside an INT8 file `path` (`x.int8.onnx` -> `x.int8.w8.onnx`)."""
    return path.with_name(path.name.removesuffix(".onnx") + FULL_WEIGHTS_SUFFIX)


def for_this_cpu(path: Path, exact: bool | None = None) -> Path:
    """`path`, or its full-weights file where one exists beside it and this CPU multiplies it exactly (`exact`:
    whether it does; None: ask the CPU). Only files named `<task>.int8.onnx` have one."""
    full = full_weights_file(path)
    if not path.name.endswith(".int8.onnx") or not full.is_file():
        return path
    return full if (full_weights_exact() if exact is None else exact) else path
