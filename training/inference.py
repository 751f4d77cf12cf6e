"""Predictions from a saved model dir.

    from training import predict
    p = predict("US sanctions target Russia's crude oil exports")
    p.labels   # ['sanctions', 'energy']: topics over their thresholds, highest score first
    p.scores   # every topic's score
    predict(["...", "..."], model="runs/default/model", threshold=0.3)

`TopicClassifier.from_pretrained(dir)` keeps one model loaded; the module-level `predict` caches it.

Precision: "fp32" is the reference. "bf16" runs the matrix math under bf16 autocast: ~1.8x faster
than fp32 on CPUs with native bf16 (AMX / avx512-bf16), slower elsewhere. "int8" is torch dynamic
quantization of the encoder's Linear layers: ~2.3x faster than fp32 on any x86 CPU, at a slightly
larger distance from fp32's answers. "auto" is bf16 where the CPU has it, else fp32. `make bench`
measures every path; tests/test_parity.py holds bf16 and int8 to fp32's decisions.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import training.modeling  # noqa: F401  registers the mean-pooling model type with the Auto classes
from training.artifacts import read_topic_info
from training.device import cpu_supports_bf16
from training.errors import ModelNotFoundError
from training.scoring import scores_from_logits
from training.thresholds import DEFAULT_THRESHOLD

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = Path("runs/default/model")
MODEL_ENV_VAR = "TOPICS_MODEL"
PRECISIONS = ("auto", "fp32", "bf16", "int8")


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
            f"no trained model at {path}: run `make train` first, or pass model=<model dir> "
            f"(or set {MODEL_ENV_VAR})"
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
        if isinstance(module, nn.Linear)
        and ".encoder.layer." in f".{name}"
        and not f".{name}".endswith(keep_fp32)
    }
    with warnings.catch_warnings():
        # torch flags its quantized tensors as deprecated; torch is pinned (Makefile TORCH_SPEC) and
        # tests/test_parity.py fails the day this path stops giving fp32's answers.
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)  # no second copy in memory


def resolve_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return precision


class TopicClassifier:
    def __init__(self, model, tokenizer, topic_info: dict, precision: str = "auto", batch_size: int = 16):
        self.precision = resolve_precision(precision)
        model = model.eval()
        if self.precision == "int8":
            model = quantize_int8(model)
        self.model = model
        self.tokenizer = tokenizer
        self.topics = [t["name"] for t in topic_info["topics"]]
        self.descriptions = {t["name"]: t.get("description", "") for t in topic_info["topics"]}
        self.multi_label = bool(topic_info["multi_label"])
        self.thresholds = {n: float(topic_info["thresholds"].get(n, DEFAULT_THRESHOLD)) for n in self.topics}
        self.max_length = int(topic_info.get("max_length", 128))
        # Length-sorted batches of 8 to 32 run within 5% of each other (64 is slower); 16 keeps the
        # activations, and so peak memory, small.
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, **kwargs) -> TopicClassifier:
        path = find_model_dir(path)
        topic_info = read_topic_info(path)
        model = AutoModelForSequenceClassification.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(model, tokenizer, topic_info, **kwargs)

    @torch.inference_mode()
    def score(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts) x topics) sigmoid (multi-label) or softmax (single-label) scores, input order."""
        # Sorting by length means each batch pads only to its own longest text.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), len(self.topics)), dtype=np.float32)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.precision == "bf16" else nullcontext()
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with autocast:
                logits = self.model(**batch).logits
            out[idx] = scores_from_logits(logits.float().numpy(), self.multi_label)
        return out

    def _threshold_vector(self, threshold: float | dict[str, float] | None) -> np.ndarray:
        chosen = dict(self.thresholds)
        if isinstance(threshold, dict):
            unknown = [k for k in threshold if k not in chosen]
            if unknown:
                topics = ", ".join(self.topics)
                raise ValueError(f"unknown topic {unknown[0]!r} in threshold; topics: {topics}")
            chosen.update(threshold)
        elif threshold is not None:
            chosen = dict.fromkeys(self.topics, float(threshold))
        return np.array([chosen[n] for n in self.topics])

    def predict(
        self, texts: str | Iterable[str], threshold: float | dict[str, float] | None = None
    ) -> Prediction | list[Prediction]:
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        for i, text in enumerate(batch):
            if not isinstance(text, str):
                raise TypeError(f"text #{i} is {type(text).__name__}, not str")
        scores = self.score(batch)
        cutoffs = self._threshold_vector(threshold)
        predictions = []
        for text, row in zip(batch, scores, strict=True):
            ranked = np.argsort(-row, kind="stable")
            if self.multi_label:
                labels = [self.topics[j] for j in ranked if row[j] >= cutoffs[j]]
            else:
                labels = [self.topics[ranked[0]]]
            scores = {n: float(s) for n, s in zip(self.topics, row, strict=True)}
            predictions.append(Prediction(text, labels, scores))
        return predictions[0] if single else predictions


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
