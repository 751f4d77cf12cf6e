"""An OpenVINO backend: the saved model exported to OpenVINO IR, run by OpenVINO's CPU plugin.

    pip install -e ".[openvino]"
    python -m training export --format openvino --model runs/default/model   # writes model/openvino/
    TopicClassifier.from_pretrained("runs/default/model", backend="openvino")
    python -m training serve --backend openvino

Why (README, "Fast inference"): on 2 cores OpenVINO answers one snippet in ~4 ms with bf16 matrix math on
CPUs that have it, where PyTorch needs twice that, and decides like PyTorch fp32 on 99.9% of decisions.
The IR lives inside the model dir, so retraining (which replaces the dir whole) never leaves a stale one.
The exported graph takes the tokenizer's tensors with any batch size and length and returns the logits;
tokenization, batching, scores and thresholds stay in training.inference, shared with PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.artifacts import atomic_dir
from training.errors import ModelNotFoundError

IR_DIR = "openvino"
IR_FILE = "openvino_model.xml"
# "auto" leaves the choice to the CPU plugin: bf16 where the CPU has native bf16, else fp32.
PRECISION_HINTS = {"auto": None, "fp32": "f32", "bf16": "bf16"}


def _openvino():
    try:
        import openvino
    except ImportError as e:  # the optional extra is not installed
        raise ModelNotFoundError('the OpenVINO backend needs its extra: pip install -e ".[openvino]"') from e
    return openvino


def export_openvino(model_dir: str | Path) -> Path:
    """Convert the saved PyTorch model to OpenVINO IR at <model_dir>/openvino/ (replacing an older export).
    The weights stay fp32 in the IR; the precision of the matrix math is chosen when it is loaded."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ov = _openvino()
    model_dir = Path(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    example = dict(
        tokenizer(["an example snippet", "a second, longer example snippet"], padding=True, return_tensors="pt")
    )

    class Logits(torch.nn.Module):  # the graph's one output: logits, not the ModelOutput wrapper
        def __init__(self, wrapped):
            super().__init__()
            self.wrapped = wrapped

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.wrapped(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    with torch.inference_mode():
        graph = ov.convert_model(
            Logits(model),
            example_input=example,
            input={name: ([-1, -1], ov.Type.i64) for name in example},
        )
    with atomic_dir(model_dir / IR_DIR) as tmp:
        ov.save_model(graph, tmp / IR_FILE, compress_to_fp16=False)
    return model_dir / IR_DIR / IR_FILE


class OpenVINOModel:
    """Callable on a tokenizer's BatchEncoding: returns (batch x topics) float32 logits."""

    def __init__(self, model_dir: str | Path, precision: str = "auto"):
        ov = _openvino()
        path = Path(model_dir) / IR_DIR / IR_FILE
        if not path.is_file():
            raise ModelNotFoundError(
                f"no OpenVINO export in {model_dir}: run `python -m training export --format openvino "
                f"--model {model_dir}` first"
            )
        if precision not in PRECISION_HINTS:
            raise ValueError(f"the OpenVINO backend takes precision {', '.join(PRECISION_HINTS)}, not {precision!r}")
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if PRECISION_HINTS[precision]:
            config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[precision]
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(path), "CPU", config)
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        chosen = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # "f32", "bf16"
        self.precision = {"f32": "fp32", "f16": "fp16"}.get(chosen, chosen)
        self.request = self.compiled.create_infer_request()

    def __call__(self, batch) -> np.ndarray:
        inputs = {name: batch[name].numpy() for name in self.input_names}
        return np.asarray(self.request.infer(inputs)[0], dtype=np.float32)
