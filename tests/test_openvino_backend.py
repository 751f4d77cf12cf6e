import pytest

from training import openvino_backend
from training.openvino_backend import INT8_IR_FILE, IR_FILE


@pytest.mark.parametrize(
    ("fast_bf16", "int8_speedup", "has_int8", "expected"),
    [
        (True, 3.0, True, (IR_FILE, None)),  # the plugin's own choice: bf16 where it is fast
        (False, 3.0, True, (INT8_IR_FILE, "f32")),  # bf16 slow, int8 measured fast, and the int8 copy exported
        (False, 3.0, False, (IR_FILE, "f32")),  # no int8 copy: fp32
        (False, 1.1, True, (IR_FILE, "f32")),  # int8 not measured fast enough here: fp32
    ],
)
def test_auto_picks_by_measurement_and_by_what_was_exported(monkeypatch, fast_bf16, int8_speedup, has_int8, expected):
    monkeypatch.setattr(openvino_backend, "cpu_runs_bf16_fast", lambda: fast_bf16)
    monkeypatch.setattr(openvino_backend, "int8_linear_speedup", lambda: int8_speedup)
    assert openvino_backend.ir_and_hint("auto", has_int8) == expected
    # An explicit precision is what the caller asked for, whatever the CPU.
    assert openvino_backend.ir_and_hint("bf16", has_int8) == (IR_FILE, "bf16")
    assert openvino_backend.ir_and_hint("fp32", has_int8) == (IR_FILE, "f32")
    assert openvino_backend.ir_and_hint("int8", has_int8) == (INT8_IR_FILE, "f32")


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="takes precision auto, fp32, bf16, int8, not 'fp16'"):
        openvino_backend.ir_and_hint("fp16", True)
