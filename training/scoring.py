"""Logits -> scores -> 0/1 decisions: numpy only, so predict() loads without the Trainer's imports."""

from __future__ import annotations

import numpy as np

from training.thresholds import DEFAULT_THRESHOLD


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


def reference_matrix(labels: np.ndarray, num_topics: int, multi_label: bool) -> np.ndarray:
    labels = np.asarray(labels)
    if multi_label:
        return (labels > 0.5).astype(int)
    return np.eye(num_topics, dtype=int)[labels.astype(int)]
