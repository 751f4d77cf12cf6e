import pytest

from training import device


def test_cpu_summary_names_the_model_and_only_flags_it_has():
    model, flags = device.cpu_info()
    summary = device.cpu_summary()
    assert summary.startswith(model)
    for flag in device.REPORTED_FLAGS:
        assert (f"{flag}," in summary or f"{flag})" in summary) == (flag in flags)
    assert device.cpu_supports_bf16() == any(f in flags for f in device.BF16_FLAGS)


def test_precision_auto_is_bf16_only_with_native_bf16(monkeypatch):
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(device, "cpu_supports_bf16", lambda native=native: native)
        assert device.resolve_precision("auto") == expected
    assert device.resolve_precision("int8") == "int8"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, int8"):
        device.resolve_precision("fp16")
