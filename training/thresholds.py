"""Per-topic decision thresholds that survive contact with new text.

Thresholds tuned on a small validation split overfit: a topic with a few dozen positives can get a
threshold of 0.05 that wins on those rows and loses on the next ones. So each topic's threshold is
cross-fitted: tuned on one half of the validation rows and scored on the other half, both ways. It
replaces 0.5 only when that held-out score beats 0.5's on the same held-out rows, and even then it
is shrunk towards 0.5.
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5
GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def _f1(scores: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    pred = scores >= threshold
    tp = float((pred & truth).sum())
    denom = float(pred.sum() + truth.sum())
    return 2 * tp / denom if denom else 1.0


def _best(scores: np.ndarray, truth: np.ndarray) -> float:
    f1s = [_f1(scores, truth, t) for t in GRID]
    # Among ties, the threshold nearest 0.5 is the least surprising one.
    best = max(f1s)
    candidates = [t for t, f in zip(GRID, f1s, strict=True) if f >= best - 1e-12]
    return float(min(candidates, key=lambda t: abs(t - DEFAULT_THRESHOLD)))


def _held_out_counts(scores, truth, threshold) -> tuple[float, float]:
    pred = scores >= threshold
    return float((pred & truth).sum()), float(pred.sum() + truth.sum())


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
        tuned_tp = tuned_denom = base_tp = base_denom = 0.0
        for fit, held in (halves, halves[::-1]):
            t = _shrink(_best(scores[fit], truth[fit]), shrinkage)
            tp, denom = _held_out_counts(scores[held], truth[held], t)
            tuned_tp, tuned_denom = tuned_tp + tp, tuned_denom + denom
            tp, denom = _held_out_counts(scores[held], truth[held], DEFAULT_THRESHOLD)
            base_tp, base_denom = base_tp + tp, base_denom + denom
        tuned_f1 = 2 * tuned_tp / tuned_denom if tuned_denom else 0.0
        base_f1 = 2 * base_tp / base_denom if base_denom else 0.0
        keep = truth.sum() > 0 and tuned_f1 > base_f1
        thresholds[name] = _shrink(_best(scores, truth), shrinkage) if keep else DEFAULT_THRESHOLD
    return thresholds


def _shrink(threshold: float, shrinkage: float) -> float:
    return round(DEFAULT_THRESHOLD + (1 - shrinkage) * (threshold - DEFAULT_THRESHOLD), 4)


def apply_thresholds(probabilities: np.ndarray, thresholds: list[float] | np.ndarray) -> np.ndarray:
    return (np.asarray(probabilities) >= np.asarray(thresholds)[None, :]).astype(int)
