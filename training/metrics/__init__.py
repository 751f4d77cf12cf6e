"""Every number the package reports about predictions, computed in one place (numpy and scikit-learn only).

- topic_metrics: micro/macro/per-topic precision, recall and F1 (scikit-learn's
  precision_recall_fscore_support) and exact match (accuracy_score: the whole topic set right);
- binary_f1: one topic's F1 at one threshold (threshold tuning);
- bootstrap_macro_f1: a 95% interval for macro-F1;
- chance_macro_f1: what tagging each topic at random at its own rate scores;
- reliability_bins and expected_calibration_error: can a score be read as a probability?

The same numbers are an `evaluate` module too (training/metrics/topic_f1), loaded by path, never from a hub;
the Trainer's per-epoch validation goes through it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

TOPIC_F1_PATH = Path(__file__).parent / "topic_f1"
# Ten equal-width bins: the usual ECE, and enough rows per bin on a validation split of a few hundred.
ECE_BINS = 10
# Resamples for the macro-F1 interval: its ends move by ~0.002 between seeds.
BOOTSTRAP_RESAMPLES = 1000


def topic_metrics(predictions: np.ndarray, references: np.ndarray, label_names: list[str]) -> dict:
    """0/1 matrices (snippets x topics) -> micro/macro/per-topic P/R/F1 and exact match.

    Macro averages run over the topics the references contain ("macro_topics" of them): a file without
    any snippet about a topic says nothing about how well that topic is found. An empty denominator
    scores 0, as zero_division=0.
    """
    pred = np.asarray(predictions, dtype=int)
    ref = np.asarray(references, dtype=int)
    if pred.shape != ref.shape or pred.ndim != 2:
        raise ValueError(f"predictions {pred.shape} and references {ref.shape} must be equal 2-D shapes")
    precision, recall, f1, support = precision_recall_fscore_support(ref, pred, average=None, zero_division=0)
    micro_p, micro_r, micro_f1, _ = precision_recall_fscore_support(ref, pred, average="micro", zero_division=0)
    present = support > 0
    if not present.any():  # nothing to find anywhere: average over every topic (all 0)
        present[:] = True
    return {
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "micro_f1": float(micro_f1),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "macro_topics": int(present.sum()),
        "exact_match": float(accuracy_score(ref, pred)),
        "per_topic": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
    }


def binary_f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    """F1 of one topic's 0/1 decisions; 1.0 when there is nothing to find and nothing was predicted."""
    return float(f1_score(np.asarray(truth, dtype=int), np.asarray(predicted, dtype=int), zero_division=1.0))


def bootstrap_macro_f1(
    predicted: np.ndarray, references: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> list[float]:
    """[low, high]: the 95% percentile interval of macro-F1 over snippets drawn with replacement. Macro
    runs over the topics the full set contains, as topic_metrics does; a topic that a resample happens to
    leave with nothing to find and nothing predicted is left out of that resample's average."""
    predicted, references = np.asarray(predicted, dtype=int), np.asarray(references, dtype=int)
    present = references.sum(axis=0) > 0
    if not len(references) or not present.any():
        return [0.0, 0.0]
    # Each resample as counts per snippet, so one matrix product gives every resample's tp and fp + fn.
    n = len(references)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=resamples)
    tp = counts @ (predicted & references)[:, present]
    wrong = counts @ (predicted ^ references)[:, present]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong), np.nan)
    low, high = np.percentile(np.nanmean(f1, axis=1), [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def chance_macro_f1(references: np.ndarray) -> float:
    """Macro-F1 of tagging each topic at random at its own rate (its expected F1 is the topic's share of
    snippets), over the topics present: the floor a trained model must clear."""
    shares = np.asarray(references).mean(axis=0)
    return float(shares[shares > 0].mean()) if (shares > 0).any() else 0.0


def reliability_bins(scores: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> tuple[np.ndarray, ...]:
    """Per equal-width score bin: rows, sum of scores, number true. A score of exactly 1 joins the top bin."""
    scores = np.asarray(scores, dtype=float).ravel()
    truth = np.asarray(truth, dtype=float).ravel()
    bin_of = np.minimum((scores * bins).astype(int), bins - 1)
    return (
        np.bincount(bin_of, minlength=bins),
        np.bincount(bin_of, weights=scores, minlength=bins),
        np.bincount(bin_of, weights=truth, minlength=bins),
    )


def expected_calibration_error(scores: np.ndarray, references: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Per-topic ECE: over score bins, |mean score - share true| weighted by the bin's share of rows.

    scores, references: (snippets x topics); references are 0/1 (one-hot for single-label).
    """
    scores = np.asarray(scores, dtype=float)
    ece = np.zeros(scores.shape[1])
    for j in range(scores.shape[1]):
        _, score_sums, true_sums = reliability_bins(scores[:, j], np.asarray(references)[:, j], bins)
        ece[j] = np.abs(score_sums - true_sums).sum() / max(len(scores), 1)
    return ece


@functools.cache
def topic_f1_module():
    """The `evaluate` module (training/metrics/topic_f1), loaded by path once."""
    import evaluate

    return evaluate.load(str(TOPIC_F1_PATH))
