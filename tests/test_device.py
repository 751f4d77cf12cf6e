import pytest

from training import device


def test_cpu_summary_names_the_model_and_only_flags_it_has():
    model, flags = device.cpu_info()
    summary = device.cpu_summary()
    assert summary.startswith(model)
    for flag in device.REPORTED_FLAGS:
        assert (f"{flag}," in summary or f"{flag})" in summary) == (flag in flags)
    assert device.cpu_supports_bf16() == any(f in flags for f in device.BF16_FLAGS)


def test_precision_auto_follows_what_was_measured_on_this_cpu(monkeypatch):
    # (native bf16 listed, bf16 speedup, int8 Linear speedup) -> auto
    cases = [
        ((True, 2.7, 2.5), "bf16"),  # AMX, AMD EPYC with avx512-bf16
        ((True, 0.53, 2.5), "int8"),  # a Xeon guest listing avx512_bf16 that runs it slowly
        ((True, 0.53, 1.1), "fp32"),
        ((False, 2.7, 2.5), "int8"),  # no native bf16: the bf16 figure is never consulted
        ((False, 2.7, 1.1), "fp32"),
    ]
    for (native, bf16, int8), expected in cases:
        monkeypatch.setattr(device, "cpu_supports_bf16", lambda native=native: native)
        monkeypatch.setattr(device, "bf16_matmul_speedup", lambda bf16=bf16: bf16)
        monkeypatch.setattr(device, "int8_linear_speedup", lambda int8=int8: int8)
        assert device.resolve_precision("auto") == expected
    assert device.resolve_precision("int8") == "int8"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, int8"):
        device.resolve_precision("fp16")


def test_speedups_are_measured_on_this_cpu():
    for measure in (device.bf16_matmul_speedup, device.int8_linear_speedup):
        speedup = measure()
        # A ratio of two real timings: finite and positive, whatever the CPU (emulated bf16 gives ~0.1-0.5).
        assert 0.01 < speedup < 100
        assert measure() is speedup  # measured once per process
