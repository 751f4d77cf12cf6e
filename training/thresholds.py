"""Per-topic decision thresholds that survive contact with new text.

Thresholds tuned on a small validation split overfit: a topic with a few dozen positives can get a
threshold of 0.05 that wins on those rows and loses on the next ones. So each topic's threshold is
cross-fitted: tuned on one half of the validation rows and scored on the other half, both ways. It
replaces 0.5 only when that held-out score beats 0.5's on the same held-out rows, and even then it
is shrunk towards 0.5.
"""

from __future__ import annotations

import numpy as np

from training.metrics import binary_f1
from training.scoring import DEFAULT_THRESHOLD

GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def _best(scores: np.ndarray, truth: np.ndarray) -> float:
    f1s = [binary_f1(scores >= t, truth) for t in GRID]
    # Among ties, the threshold nearest 0.5 is the least surprising one.
    best = max(f1s)
    candidates = [t for t, f in zip(GRID, f1s, strict=True) if f >= best - 1e-12]
    return float(min(candidates, key=lambda t: abs(t - DEFAULT_THRESHOLD)))


def tune_thresholds(
    probabilities: np.ndarray, labels: np.ndarray, topic_names: list[str], shrinkage: float = 0.5, seed: int = 0
) -> dict[str, float]:
    """probabilities, labels: (snippets x topics). Returns {topic: threshold}."""
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels) > 0.5
    n = len(probabilities)
    order = np.random.default_rng(seed).permutation(n)
    halves = (order[: n // 2], order[n // 2 :])
    thresholds = {}
    for j, name in enumerate(topic_names):
        scores, truth = probabilities[:, j], labels[:, j]
        # Each half's threshold is scored on the other half; both halves' held-out decisions are pooled.
        held_out = np.concatenate([held for _, held in (halves, halves[::-1])])
        tuned = np.concatenate(
            [scores[held] >= _shrink(_best(scores[fit], truth[fit]), shrinkage) for fit, held in (halves, halves[::-1])]
        )
        tuned_f1 = binary_f1(tuned, truth[held_out])
        base_f1 = binary_f1(scores[held_out] >= DEFAULT_THRESHOLD, truth[held_out])
        keep = truth.sum() > 0 and tuned_f1 > base_f1
        thresholds[name] = _shrink(_best(scores, truth), shrinkage) if keep else DEFAULT_THRESHOLD
    return thresholds


def _shrink(threshold: float, shrinkage: float) -> float:
    return round(DEFAULT_THRESHOLD + (1 - shrinkage) * (threshold - DEFAULT_THRESHOLD), 4)
