"""What the CPU can do, detected at run time (never assumed)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# CPU flags that give native bf16 matrix math; without them torch emulates bf16 and it is slower than fp32.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


# The flags every benchmark table names beside the CPU model: bf16 and int8 matrix instructions.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


@functools.cache
def cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first CPU in /proc/cpuinfo (Linux); elsewhere the platform's processor
    string and no flags."""
    fields: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() == "Linux" and cpuinfo.exists():
        for line in cpuinfo.read_text(errors="ignore").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or platform.processor() or platform.machine()
    return model, frozenset(fields.get("flags", "").split())


def cpu_supports_bf16() -> bool:
    """True when the CPU lists a native bf16 instruction set (Linux x86)."""
    return any(flag in cpu_info()[1] for flag in BF16_FLAGS)


def cpu_summary() -> str:
    """"<model> (avx512_bf16, amx_bf16, ...)": how benchmark tables name the machine."""
    model, flags = cpu_info()
    present = [f for f in REPORTED_FLAGS if f in flags]
    return f"{model} ({', '.join(present) or 'none of ' + '/'.join(REPORTED_FLAGS)})"


# How TopicClassifier runs the model (training.inference): "auto" picks for this CPU. The openvino backend
# runs the model's OpenVINO export (training.openvino_backend) with auto, fp32 or bf16.
PRECISIONS = ("auto", "fp32", "bf16", "int8")
BACKENDS = ("torch", "openvino")


def resolve_precision(precision: str) -> str:
    """"auto" is bf16 where the CPU has native bf16, else fp32; the others are themselves."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return precision
