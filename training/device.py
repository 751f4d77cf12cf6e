"""What the CPU can do, detected at run time (never assumed)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# CPU flags that give native bf16 matrix math; without them torch emulates bf16 and it is slower than fp32.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def cpu_supports_bf16() -> bool:
    """True when /proc/cpuinfo lists a native bf16 instruction set (Linux x86)."""
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() != "Linux" or not cpuinfo.exists():
        return False
    for line in cpuinfo.read_text(errors="ignore").splitlines():
        if line.startswith("flags"):
            return any(flag in line.split() for flag in BF16_FLAGS)
    return False


# How TopicClassifier runs the model (training.inference): "auto" picks for this CPU.
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def resolve_precision(precision: str) -> str:
    """"auto" is bf16 where the CPU has native bf16, else fp32; the others are themselves."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return precision
