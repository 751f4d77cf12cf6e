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

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from training.artifacts import atomic_dir
from training.device import cpu_runs_bf16_fast
from training.errors import ModelNotFoundError

IR_DIR = "openvino"
IR_FILE = "openvino_model.xml"
# "auto" leaves the choice to the CPU plugin (bf16 where the CPU lists native bf16) only where bf16 was
# measured fast (training.device); elsewhere fp32: on a Xeon guest listing avx512_bf16 without AMX the
# plugin's bf16 ran 114 snippets/s against 170 in fp32.
PRECISION_HINTS = {"auto": None, "fp32": "f32", "bf16": "bf16"}


def precision_hint(precision: str) -> str | None:
    """INFERENCE_PRECISION_HINT for a precision name; None lets the plugin choose."""
    if precision == "auto":
        return None if cpu_runs_bf16_fast() else "f32"
    return PRECISION_HINTS[precision]


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
    """The export compiled for the CPU: `run(batches)` yields (row indices, float32 logits) per batch."""

    def __init__(self, model_dir: str | Path, precision: str = "auto"):
        self.ov = _openvino()
        path = Path(model_dir) / IR_DIR / IR_FILE
        if not path.is_file():
            raise ModelNotFoundError(
                f"no OpenVINO export in {model_dir}: run `python -m training export --format openvino "
                f"--model {model_dir}` first"
            )
        if precision not in PRECISION_HINTS:
            raise ValueError(f"the OpenVINO backend takes precision {', '.join(PRECISION_HINTS)}, not {precision!r}")
        self.core = self.ov.Core()
        self.graph = self.core.read_model(path)
        hint = precision_hint(precision)
        self.config = {"INFERENCE_PRECISION_HINT": hint} if hint else {}
        # One snippet (or one batch) at a time: all cores on one request, the lowest latency.
        self.latency = self.core.compile_model(self.graph, "CPU", {**self.config, "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.latency.create_infer_request()
        self.input_names = [port.get_any_name() for port in self.latency.inputs]
        chosen = self.latency.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # "f32", "bf16"
        self.precision = {"f32": "fp32", "f16": "fp16"}.get(chosen, chosen)
        self._throughput = None

    def run(self, batches) -> Iterator[tuple[list[int], np.ndarray]]:
        """Logits per batch. Several batches run as parallel requests on the plugin's throughput streams (one per
        core here): 735 snippets/s against 639 for one request after another on 2 AMX cores."""
        batches = list(batches)
        if len(batches) == 1:
            idx, batch = batches[0]
            yield idx, self._logits(self.request.infer(self._inputs(batch)))
            return
        if self._throughput is None:  # compiled on first use: a server answering single snippets never needs it
            self._throughput = self.core.compile_model(
                self.graph, "CPU", {**self.config, "PERFORMANCE_HINT": "THROUGHPUT"}
            )
        results = {}
        queue = self.ov.AsyncInferQueue(self._throughput)
        queue.set_callback(lambda request, i: results.__setitem__(i, self._logits(request.results)))
        for i, (_, batch) in enumerate(batches):
            queue.start_async(self._inputs(batch), i)
        queue.wait_all()
        for i, (idx, _) in enumerate(batches):
            yield idx, results[i]

    def _inputs(self, batch) -> dict:
        return {name: batch[name].numpy() for name in self.input_names}

    @staticmethod
    def _logits(results) -> np.ndarray:
        return np.asarray(next(iter(results.values())), dtype=np.float32).copy()
