"""Logits -> scores -> 0/1 decisions: numpy only, so predict() loads without the Trainer's imports."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

# A topic whose threshold was not tuned (or whose tuned one did not beat it) is assigned at 0.5.
DEFAULT_THRESHOLD = 0.5


def checked_threshold(value, name: str = "threshold") -> float:
    """A decision threshold is a real number in [0, 1]; anything else is a ValueError naming it. The one
    check behind predict(), predict-file and the HTTP service."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def scores_from_logits(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def decisions(scores: np.ndarray, multi_label: bool, thresholds=DEFAULT_THRESHOLD) -> np.ndarray:
    """0/1 matrix: topics over their thresholds (multi-label) or the arg-max class (single-label)."""
    if multi_label:
        return (scores >= np.broadcast_to(np.asarray(thresholds, dtype=float), scores.shape[1:])).astype(int)
    onehot = np.zeros_like(scores, dtype=int)
    onehot[np.arange(len(scores)), scores.argmax(axis=1)] = 1
    return onehot


def ranked_labels(scores: np.ndarray, topics: list[str], thresholds, multi_label: bool) -> list[str]:
    """One snippet's labels, highest score first: the topics at or over their thresholds (multi-label), or
    the arg-max class (single-label)."""
    ranked = np.argsort(-np.asarray(scores), kind="stable")
    if not multi_label:
        return [topics[ranked[0]]]
    cutoffs = np.broadcast_to(np.asarray(thresholds, dtype=float), len(topics))
    return [topics[j] for j in ranked if scores[j] >= cutoffs[j]]


def reference_matrix(labels: np.ndarray, num_topics: int, multi_label: bool) -> np.ndarray:
    labels = np.asarray(labels)
    if multi_label:
        return (labels > 0.5).astype(int)
    return np.eye(num_topics, dtype=int)[labels.astype(int)]
