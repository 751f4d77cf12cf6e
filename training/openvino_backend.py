"""An OpenVINO backend: the saved model exported to OpenVINO IR, run by OpenVINO's CPU plugin.

    pip install -e ".[openvino]"
    python -m training export --format openvino --model runs/default/model   # writes model/openvino/
    TopicClassifier.from_pretrained("runs/default/model", backend="openvino")
    python -m training serve --backend openvino

Why (README, "Fast inference"): on 2 cores OpenVINO answers one snippet in ~4 ms with bf16 matrix math on
CPUs that run bf16 fast, where PyTorch needs twice that, and decides like PyTorch fp32 on 99.9% of decisions.
Where bf16 is slow, the export's int8 copy (NNCF post-training quantization, calibrated on a few hundred of
the model's own training snippets) takes its place: on a Xeon guest listing avx512_bf16 without AMX it ran
422 snippets/s at 4.2 ms for one snippet, against 167/s and 12 ms in fp32, with 99.96% of decisions equal
(`make bench`).
The IR lives inside the model dir, so retraining (which replaces the dir whole) never leaves a stale one.
The exported graph takes the tokenizer's tensors with any batch size and length and returns the logits;
tokenization, batching, scores and thresholds stay in training.inference, shared with PyTorch.
"""

from __future__ import annotations

import glob
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import yaml

from training.artifacts import TRAINING_CONFIG_FILE, atomic_dir, read_topic_info
from training.device import INT8_MIN_SPEEDUP, PRECISIONS, cpu_runs_bf16_fast, int8_linear_speedup
from training.errors import DataError, ModelNotFoundError
from training.readers import read_rows

IR_DIR = "openvino"
IR_FILE = "openvino_model.xml"
INT8_IR_FILE = "openvino_model_int8.xml"
# Enough snippets for NNCF to see each layer's activation range; ~30 s for the 6-layer model on 2 cores.
CALIBRATION_SIZE = 300


def ir_and_hint(precision: str, has_int8: bool) -> tuple[str, str | None]:
    """(IR file, INFERENCE_PRECISION_HINT) for a precision name; a hint of None lets the plugin choose.

    "auto" lets the plugin choose (bf16 where the CPU lists native bf16) only where bf16 was measured fast
    (training.device); else the int8 IR where a timed int8 layer beats fp32 by INT8_MIN_SPEEDUP (as PyTorch's
    auto does), else fp32. On a Xeon guest listing avx512_bf16 without AMX the plugin's bf16 ran 114 snippets/s,
    fp32 167-170 and the int8 IR 422. The int8 IR runs its remaining float operations in f32."""
    if precision not in PRECISIONS:
        raise ValueError(f"the OpenVINO backend takes precision {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        if cpu_runs_bf16_fast():
            return IR_FILE, None
        precision = "int8" if has_int8 and int8_linear_speedup() >= INT8_MIN_SPEEDUP else "fp32"
    if precision == "int8":
        return INT8_IR_FILE, "f32"
    return IR_FILE, {"fp32": "f32", "bf16": "bf16"}[precision]


def training_files_of(model_dir: str | Path) -> list[str]:
    """The train_files patterns a model was trained on (its training_config.yaml), or [] when it names none."""
    config = Path(model_dir) / TRAINING_CONFIG_FILE
    if not config.is_file():
        return []
    return list((yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("train_files") or [])


def calibration_texts(patterns: Sequence[str], size: int = CALIBRATION_SIZE, seed: int = 0) -> list[str]:
    """A fixed random sample of `size` texts (the "text" field) from the files the patterns match.
    DataError when they match no file or hold no text, naming the patterns and the ways out."""
    files = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    texts = [
        row["text"]
        for path in files
        for _, row in read_rows(path)
        if isinstance(row.get("text"), str) and row["text"].strip()
    ]
    if not texts:
        raise DataError(
            f"no calibration texts for the int8 export in {', '.join(patterns) or 'the model dir'}: pass snippets "
            "like those the model will see (--calibration 'data/*.jsonl'), or export fp32 only (--no-int8)"
        )
    return random.Random(seed).sample(texts, min(size, len(texts)))


def _openvino():
    try:
        import openvino
    except ImportError as e:  # the optional extra is not installed
        raise ModelNotFoundError('the OpenVINO backend needs its extra: pip install -e ".[openvino]"') from e
    return openvino


def export_openvino(model_dir: str | Path, calibration: Sequence[str] = ()) -> Path:
    """Convert the saved PyTorch model to OpenVINO IR at <model_dir>/openvino/ (replacing an older export).
    The weights stay fp32 in that IR; the precision of the matrix math is chosen when it is loaded. With
    calibration texts (snippets like those the model will see), an int8 copy is written beside it."""
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
    int8 = None
    if calibration:
        max_length = int(read_topic_info(model_dir).get("max_length", 128))
        int8 = quantize_int8(graph, tokenizer, calibration, max_length)
    with atomic_dir(model_dir / IR_DIR) as tmp:
        ov.save_model(graph, tmp / IR_FILE, compress_to_fp16=False)
        if int8 is not None:
            ov.save_model(int8, tmp / INT8_IR_FILE, compress_to_fp16=False)
    return model_dir / IR_DIR / IR_FILE


def quantize_int8(graph, tokenizer, texts: Sequence[str], max_length: int):
    """NNCF post-training int8 quantization of an exported graph, its activation ranges measured on `texts`
    (one snippet per call, unpadded, as the model is fed). The transformer preset keeps the operations that
    int8 would hurt (softmax, layer norm, GELU) in float."""
    try:
        import nncf
    except ImportError as e:
        raise ModelNotFoundError('the int8 OpenVINO export needs NNCF: pip install -e ".[openvino]"') from e
    names = [port.get_any_name() for port in graph.inputs]

    def feed(text: str) -> dict:
        encoded = tokenizer([text], truncation=True, max_length=max_length, return_tensors="np")
        return {name: encoded[name].astype(np.int64) for name in names}

    # a fresh copy: nncf.quantize must not touch the fp32 graph, which is saved as it is
    return nncf.quantize(
        graph.clone(), nncf.Dataset(list(texts), feed), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(texts)
    )


class OpenVINOModel:
    """The export compiled for the CPU: `run(batches)` yields (row indices, float32 logits) per batch."""

    def __init__(self, model_dir: str | Path, precision: str = "auto"):
        self.ov = _openvino()
        export = Path(model_dir) / IR_DIR
        if not (export / IR_FILE).is_file():
            raise ModelNotFoundError(
                f"no OpenVINO export in {model_dir}: run `python -m training export --format openvino "
                f"--model {model_dir}` first"
            )
        ir_file, hint = ir_and_hint(precision, has_int8=(export / INT8_IR_FILE).is_file())
        if not (export / ir_file).is_file():
            raise ModelNotFoundError(
                f"no int8 OpenVINO export in {model_dir}: export it again without --no-int8 "
                f"(`python -m training export --format openvino --model {model_dir}`)"
            )
        self.core = self.ov.Core()
        self.graph = self.core.read_model(export / ir_file)
        self.config = {"INFERENCE_PRECISION_HINT": hint} if hint else {}
        # One snippet (or one batch) at a time: all cores on one request, the lowest latency.
        self.latency = self.core.compile_model(self.graph, "CPU", {**self.config, "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.latency.create_infer_request()
        self.input_names = [port.get_any_name() for port in self.latency.inputs]
        chosen = self.latency.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # "f32", "bf16"
        self.precision = "int8" if ir_file == INT8_IR_FILE else {"f32": "fp32", "f16": "fp16"}.get(chosen, chosen)
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
