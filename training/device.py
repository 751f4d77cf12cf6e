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
