"""What the CPU can do, detected at run time (never assumed)."""

from __future__ import annotations

import functools
import platform
import time
from pathlib import Path

# CPU flags that give native bf16 matrix math; without them torch emulates bf16 and it is slower than fp32.
# With them it is usually faster, but not always: cpu_runs_bf16_fast measures.
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


# bf16 must beat fp32 by this much to be chosen. Measured ratios sit far from it on every CPU kind met so
# far: ~2.7x on AMD EPYC with avx512-bf16 (whole model), more with AMX, and 0.5-0.8x on a Xeon (KVM guest)
# that lists avx512_bf16 without AMX, where oneDNN's avx512_core_bf16 kernels run slower than fp32's.
BF16_MIN_SPEEDUP = 1.2


@functools.cache
def bf16_matmul_speedup() -> float:
    """fp32 time over bf16 time of one MiniLM-sized matrix product (1,024 word pieces through a 384 x 1,536
    feed-forward layer, best of 5 after a warm-up), measured once per process in ~0.1 s: a listed flag says
    the instruction exists, not that this CPU (or its hypervisor) runs it fast."""
    import torch

    def product_seconds(dtype) -> float:
        x, w = torch.randn(1024, 384, dtype=dtype), torch.randn(384, 1536, dtype=dtype)
        return _best_seconds(lambda: x @ w)

    return product_seconds(torch.float32) / product_seconds(torch.bfloat16)


def cpu_runs_bf16_fast() -> bool:
    """Native bf16 listed and measured: bf16 matrix products at least BF16_MIN_SPEEDUP times fp32's."""
    return cpu_supports_bf16() and bf16_matmul_speedup() >= BF16_MIN_SPEEDUP


# Where bf16 is not fast, dynamic int8 is the default when its Linear layer beats fp32's by this much:
# the Linear layers are only part of the model (attention, layer norms, GELU and tokenization stay fp32),
# so 2.6-3.0x on the layer gave 1.56x on the whole model on the Xeon guest above (224 snippets/s
# against 144), at 99.8% of fp32's decisions.
INT8_MIN_SPEEDUP = 1.5


@functools.cache
def int8_linear_speedup() -> float:
    """fp32 time over dynamic-int8 time of the same MiniLM-sized Linear layer (1,024 word pieces, 384 to
    1,536; best of 5 after a warm-up), measured once per process in ~0.1 s."""
    import warnings

    import torch
    from torch import nn
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    x = torch.randn(1024, 384)
    fp32 = nn.Sequential(nn.Linear(384, 1536))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch flags its quantized tensors as deprecated
        int8 = quantize_dynamic(nn.Sequential(nn.Linear(384, 1536)), {"0": per_channel_dynamic_qconfig})
    with torch.inference_mode():
        return _best_seconds(lambda: fp32(x)) / _best_seconds(lambda: int8(x))


def _best_seconds(call) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


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
    """"auto" is bf16 where the CPU runs it fast (cpu_runs_bf16_fast), else int8 where a dynamic-int8 Linear
    layer measures INT8_MIN_SPEEDUP times fp32's, else fp32; the others are themselves."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        if cpu_runs_bf16_fast():
            return "bf16"
        return "int8" if int8_linear_speedup() >= INT8_MIN_SPEEDUP else "fp32"
    return precision
