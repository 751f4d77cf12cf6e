"""Predictions from a saved model dir.

    from training import predict
    p = predict("US sanctions target Russia's crude oil exports")
    p.labels   # ['sanctions', 'energy']: topics over their thresholds, highest score first
    p.scores   # every topic's score
    predict(["...", "..."], model="runs/default/model", threshold=0.3)

`TopicClassifier.from_pretrained(dir)` keeps one model loaded; the module-level `predict` caches it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import training.modeling  # noqa: F401  registers the mean-pooling model type with the Auto classes
from training.artifacts import read_topic_info
from training.device import cpu_supports_bf16
from training.errors import ModelNotFoundError
from training.thresholds import DEFAULT_THRESHOLD
from training.trainer import scores_from_logits

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = Path("runs/default/model")
MODEL_ENV_VAR = "TOPICS_MODEL"


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


class TopicClassifier:
    def __init__(self, model, tokenizer, topic_info: dict, precision: str = "auto", batch_size: int = 64):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.topics = [t["name"] for t in topic_info["topics"]]
        self.multi_label = bool(topic_info["multi_label"])
        self.thresholds = {n: float(topic_info["thresholds"].get(n, DEFAULT_THRESHOLD)) for n in self.topics}
        self.max_length = int(topic_info.get("max_length", 128))
        self.batch_size = batch_size
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', not {precision!r}")
        self.bf16 = precision == "bf16" or (precision == "auto" and cpu_supports_bf16())

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, **kwargs) -> TopicClassifier:
        path = Path(path) if path is not None else default_model_dir()
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"no trained model at {path}: run `make train` first, or pass model=<model dir> "
                f"(or set {MODEL_ENV_VAR})"
            )
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
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext()
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
                raise ValueError(f"unknown topic {unknown[0]!r} in threshold; topics: {', '.join(self.topics)}")
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
            predictions.append(Prediction(text, labels, {n: float(s) for n, s in zip(self.topics, row, strict=True)}))
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
