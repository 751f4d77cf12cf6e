"""Predictions from a saved model dir.

    from training import predict
    p = predict("US sanctions target Russia's crude oil exports")
    p.labels   # ['sanctions', 'energy']: topics over their thresholds, highest score first
    p.scores   # every topic's score
    predict(["...", "..."], model="runs/default/model", threshold=0.3)

`TopicClassifier.from_pretrained(dir)` keeps one model loaded; the module-level `predict` caches it.

Precision (PyTorch): "fp32" is the reference. "bf16" loads the encoder's weights as bf16 once (head and
pooler stay fp32): 3.2x fp32's throughput on 2 AMX cores, and slower than fp32 on CPUs without native
bf16 (and on a Xeon guest that lists avx512_bf16 but runs it at half fp32's speed). "int8" is torch
dynamic quantization of the encoder's Linear layers. "auto" is bf16 where the CPU runs it faster than
fp32, else int8 where a dynamic-int8 Linear layer runs 1.5x fp32's, else fp32 (training.device times
both once per process, ~0.2 s). `backend="openvino"` runs the model's OpenVINO export instead
(training.openvino_backend). `make bench` measures every path (README, "Fast inference");
tests/test_parity.py holds them to fp32's decisions.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from training.artifacts import read_topic_info
from training.device import BACKENDS, resolve_precision
from training.errors import ModelNotFoundError
from training.explain import PERMUTATION_BUDGET, Explanation, explain
from training.modeling import HEAD_MODULES, encode_batches  # importing it registers the mean-pooling model
from training.scoring import DEFAULT_THRESHOLD, checked_threshold, ranked_labels, scores_from_logits

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = Path("runs/default/model")
MODEL_ENV_VAR = "TOPICS_MODEL"
# Batches (one text included) are padded to a multiple of this many word pieces: a handful of input shapes
# instead of one per length, so the CPU kernels' per-shape caches stop growing in a long-running server
# (README, "HTTP"), for at most 15 pad tokens per batch (8 lengths up to max_length 128). Measured in bf16
# on 2 AMX cores: 504 snippets/s and 592 MB peak at 16, against 489/s and 628 MB at 8, 489/s and 577 MB at 32.
PAD_TO_MULTIPLE = 16


def default_batch_size(backend: str, precision: str) -> int:
    """Snippets per batch (sorted by word pieces), as measured per path on 2 cores.

    bf16 and OpenVINO: 32. On AMX in bf16, ~500 snippets/s against 411 for batches of 64 sorted by characters;
    64 gains ~2% more and costs ~65 MB more peak memory. PyTorch fp32 and int8: 8. On a Xeon guest without AMX
    (int8 is `auto` there), batches of 8, 16 and 32 ran within run-to-run noise of each other (191-235
    snippets/s over three runs each) while the process peaked at ~575, ~610 and ~685 MB: the longest batch's
    activations set the peak."""
    return 8 if backend == "torch" and precision in ("fp32", "int8") else 32


@dataclass
class Prediction:
    text: str
    labels: list[str]  # topics over their thresholds, highest score first; may be empty
    scores: dict[str, float] = field(repr=False)  # every topic, in the model's topic order


def default_model_dir() -> Path:
    """$TOPICS_MODEL, else runs/default/model under the working dir, else under the repo."""
    if os.environ.get(MODEL_ENV_VAR):
        return Path(os.environ[MODEL_ENV_VAR])
    for candidate in (DEFAULT_MODEL, REPO_ROOT / DEFAULT_MODEL):
        if candidate.is_dir():
            return candidate
    return DEFAULT_MODEL


def find_model_dir(path: str | Path | None = None) -> Path:
    """`path` (default: `default_model_dir()`), checked to hold a trained model."""
    path = Path(path) if path is not None else default_model_dir()
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"no trained model at {path}: run `make train` first, or pass model=<model dir> (or set {MODEL_ENV_VAR})"
        )
    return path


def int8_keeps_fp32(num_layers: int) -> tuple[str, ...]:
    """Encoder Linear layers that int8 leaves in fp32: the FFN output projections of the first half of
    the layers. Their inputs carry MiniLM's largest activation outliers; quantizing layer 0's alone
    flipped ~1% of fp32's decisions (README, "Fast inference")."""
    return tuple(f".encoder.layer.{i}.output.dense" for i in range(num_layers // 2))


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 for the encoder's Linear layers: weights per output channel, activations per batch."""
    keep_fp32 = int8_keeps_fp32(model.config.num_hidden_layers)
    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and ".encoder.layer." in f".{name}" and not f".{name}".endswith(keep_fp32)
    }
    with warnings.catch_warnings():
        # torch flags its quantized tensors as deprecated; torch is pinned (Makefile TORCH_SPEC) and
        # tests/test_parity.py fails the day this path stops giving fp32's answers.
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)  # no second copy in memory


def cast_bf16(model: nn.Module) -> nn.Module:
    """The encoder's weights cast to bf16 once, at load. (bf16 autocast re-casts every weight on every
    call, most of a one-snippet call's time.) The head, and BERT's pooler before it, stay fp32 and get
    fp32 inputs, so scores keep fp32's resolution near the thresholds."""
    model.to(torch.bfloat16)
    for name in HEAD_MODULES:
        for module_name, module in model.named_modules():
            if module_name.rpartition(".")[2] == name:
                module.float()
                module.register_forward_pre_hook(lambda _, args: tuple(a.float() for a in args))
    return model


class TopicClassifier:
    """A loaded model with its topics and thresholds. `backend="openvino"` runs an OpenVINO export of the same
    model dir (training.openvino_backend); tokenization, batching, scores and thresholds are shared."""

    def __init__(
        self,
        model,
        tokenizer,
        topic_info: dict,
        precision: str = "auto",
        batch_size: int | None = None,
        backend: str = "torch",
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.backend = backend
        if backend == "openvino":
            self.precision = model.precision  # what OpenVINO's CPU plugin runs
        else:
            self.precision = resolve_precision(precision)
            model = model.eval()
            if self.precision == "int8":
                model = quantize_int8(model)
            elif self.precision == "bf16":
                model = cast_bf16(model)
        self.model = model
        self.tokenizer = tokenizer
        self.topics = [t["name"] for t in topic_info["topics"]]
        self.descriptions = {t["name"]: t.get("description", "") for t in topic_info["topics"]}
        self.multi_label = bool(topic_info["multi_label"])
        self.thresholds = {n: float(topic_info["thresholds"].get(n, DEFAULT_THRESHOLD)) for n in self.topics}
        self.max_length = int(topic_info.get("max_length", 128))
        self.batch_size = batch_size or default_batch_size(self.backend, self.precision)

    @classmethod
    def from_pretrained(
        cls, path: str | Path | None = None, backend: str = "torch", precision: str = "auto", **kwargs
    ) -> TopicClassifier:
        path = find_model_dir(path)
        topic_info = read_topic_info(path)
        if backend == "openvino":
            from training.openvino_backend import OpenVINOModel

            model = OpenVINOModel(path, precision)
        else:
            # bf16 weights straight from the file: no fp32 copy in memory first (~90 MB less at peak).
            dtype = torch.bfloat16 if resolve_precision(precision) == "bf16" else None
            model = AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(model, tokenizer, topic_info, precision=precision, backend=backend, **kwargs)

    @torch.inference_mode()
    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts) x topics) raw logits, input order (calibration fits temperatures on these)."""
        out = np.zeros((len(texts), len(self.topics)), dtype=np.float32)
        batches = encode_batches(
            self.tokenizer, texts, self.batch_size, self.max_length, pad_to_multiple_of=PAD_TO_MULTIPLE
        )
        if self.backend == "openvino":
            for idx, logits in self.model.run(batches):
                out[idx] = logits
            return out
        for idx, batch in batches:
            out[idx] = self.model(**batch).logits.float().numpy()
        return out

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts) x topics) sigmoid (multi-label) or softmax (single-label) scores, input order."""
        return scores_from_logits(self.logits(texts), self.multi_label).astype(np.float32)

    def _threshold_vector(self, threshold: float | dict[str, float] | None) -> np.ndarray:
        chosen = dict(self.thresholds)
        if isinstance(threshold, dict):
            unknown = [k for k in threshold if k not in chosen]
            if unknown:
                topics = ", ".join(self.topics)
                raise ValueError(f"unknown topic {unknown[0]!r} in threshold; topics: {topics}")
            chosen.update({k: checked_threshold(v, f"threshold[{k!r}]") for k, v in threshold.items()})
        elif threshold is not None:
            chosen = dict.fromkeys(self.topics, checked_threshold(threshold))
        return np.array([chosen[n] for n in self.topics])

    def predict(
        self, texts: str | Iterable[str], threshold: float | dict[str, float] | None = None
    ) -> Prediction | list[Prediction]:
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        for i, text in enumerate(batch):
            if not isinstance(text, str):
                raise TypeError(f"text #{i} is {type(text).__name__}, not str")
        cutoffs = self._threshold_vector(threshold)
        predictions = [
            Prediction(
                text,
                ranked_labels(row, self.topics, cutoffs, self.multi_label),
                {n: float(s) for n, s in zip(self.topics, row, strict=True)},
            )
            for text, row in zip(batch, self.score(batch), strict=True)
        ]
        return predictions[0] if single else predictions

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts) x hidden) sentence vectors: the fine-tuned encoder's token vectors, mean-pooled.
        PyTorch backend only (the OpenVINO export returns logits alone)."""
        if self.backend != "torch":
            raise NotImplementedError("embed() needs the torch backend")
        vectors = []
        order = []
        for idx, batch in encode_batches(self.tokenizer, texts, self.batch_size, self.max_length):
            hidden = self.model.base_model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            vectors.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
            order.extend(idx)
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        if vectors:
            out[order] = np.concatenate(vectors)
        return out

    def explain(
        self,
        text: str,
        threshold: float | dict[str, float] | None = None,
        permutation_budget: int = PERMUTATION_BUDGET,
    ) -> Explanation:
        """Which words drove each topic's score: sampled Shapley values of its words (training.explain)."""
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, not str")
        return explain(self, text, threshold, permutation_budget)


@functools.lru_cache(maxsize=4)
def _cached_classifier(path: str) -> TopicClassifier:
    return TopicClassifier.from_pretrained(path)


def predict(
    texts: str | Iterable[str],
    model: str | Path | None = None,
    threshold: float | dict[str, float] | None = None,
) -> Prediction | list[Prediction]:
    """One text -> one Prediction; a list -> a list. `model` defaults to runs/default/model."""
    path = Path(model) if model is not None else default_model_dir()
    return _cached_classifier(str(path.resolve())).predict(texts, threshold=threshold)
