from training import openvino_backend


def test_auto_lets_the_plugin_pick_bf16_only_where_bf16_was_measured_fast(monkeypatch):
    for fast_bf16, hint in ((True, None), (False, "f32")):
        monkeypatch.setattr(openvino_backend, "cpu_runs_bf16_fast", lambda fast_bf16=fast_bf16: fast_bf16)
        assert openvino_backend.precision_hint("auto") == hint
        # An explicit precision is what the caller asked for, whatever the CPU.
        assert openvino_backend.precision_hint("bf16") == "bf16"
        assert openvino_backend.precision_hint("fp32") == "f32"
