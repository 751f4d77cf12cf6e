import pytest

from training import device


def test_cpu_summary_names_the_model_and_only_flags_it_has():
    model, flags = device.cpu_info()
    summary = device.cpu_summary()
    assert summary.startswith(model)
    for flag in device.REPORTED_FLAGS:
        assert (f"{flag}," in summary or f"{flag})" in summary) == (flag in flags)
    assert device.cpu_supports_bf16() == any(f in flags for f in device.BF16_FLAGS)


def test_precision_auto_is_bf16_only_where_native_bf16_is_measured_faster(monkeypatch):
    cases = [(True, 2.7, "bf16"), (True, 0.53, "fp32"), (False, 2.7, "fp32")]
    for native, speedup, expected in cases:
        monkeypatch.setattr(device, "cpu_supports_bf16", lambda native=native: native)
        monkeypatch.setattr(device, "bf16_matmul_speedup", lambda speedup=speedup: speedup)
        assert device.resolve_precision("auto") == expected
    assert device.resolve_precision("int8") == "int8"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, int8"):
        device.resolve_precision("fp16")


def test_bf16_speedup_is_measured_on_this_cpu():
    speedup = device.bf16_matmul_speedup()
    # A ratio of two real timings: finite and positive, whatever the CPU (emulated bf16 gives ~0.1-0.5).
    assert 0.01 < speedup < 100
    assert device.bf16_matmul_speedup() is speedup  # measured once per process
