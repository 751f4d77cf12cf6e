"""Can a score be read as a probability? Expected calibration error, and temperature scaling.

A topic scored 0.8 should be right about 80% of the time. Fine-tuning rarely leaves it so: per-topic
positive weights push rare topics' scores up, and training to a confident fit pushes everything
towards 0 and 1. Temperature scaling divides each logit by a temperature T fitted on the validation
split (lowest log-loss). It never reorders scores, so decisions at 0.5, precision-recall curves and
arg-max classes are unchanged; only what a score means changes.

T is folded into the classifier head (its weight and bias divided by T), so every way of loading the
saved model (`predict()`, `TopicClassifier`, a `transformers.pipeline`) returns calibrated scores.
Multi-label models get one T per topic (each topic is its own sigmoid); single-label models one T
shared by all classes (a softmax has one scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from torch import nn

from training.metrics import expected_calibration_error
from training.scoring import scores_from_logits

# Scores are left alone when the validation ECE (mean over topics) is at or below this. It is the
# noise floor: a perfectly calibrated model with the default model's score distribution, on its 357
# validation rows, shows a mean ECE of 0.028 (95th percentile 0.032) from sampling alone.
POOR_CALIBRATION_ECE = 0.035
# T is searched on this range of log T; beyond it a topic's validation rows are too one-sided to trust.
LOG_TEMPERATURE_BOUNDS = (np.log(0.1), np.log(10.0))


def _binary_log_loss(logits: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, logits) - truth * logits))


def _softmax_log_loss(logits: np.ndarray, classes: np.ndarray) -> float:
    return float(np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(logits)), classes]))


def _fit_log_temperature(loss) -> float:
    result = minimize_scalar(loss, bounds=LOG_TEMPERATURE_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def fit_temperature(logits: np.ndarray, references: np.ndarray, multi_label: bool) -> np.ndarray:
    """One T per topic (multi-label) or one shared T repeated per class (single-label), lowest log-loss.

    A topic whose validation rows are all positive or all negative keeps T = 1: its log-loss falls
    forever as T shrinks, which says nothing about new text.
    """
    logits = np.asarray(logits, dtype=float)
    references = np.asarray(references, dtype=int)
    if not multi_label:
        classes = references.argmax(axis=1)
        shared = _fit_log_temperature(lambda log_t: _softmax_log_loss(logits / np.exp(log_t), classes))
        return np.full(logits.shape[1], shared)
    temperature = np.ones(logits.shape[1])
    for j in range(logits.shape[1]):
        z, truth = logits[:, j], references[:, j]
        if 0 < truth.sum() < len(truth):
            temperature[j] = _fit_log_temperature(
                lambda log_t, z=z, t=truth: _binary_log_loss(z / np.exp(log_t), t)
            )
    return temperature


@dataclass
class Calibration:
    temperature: np.ndarray  # one per topic; all 1.0 when calibration was already good
    ece_before: np.ndarray  # per topic, validation split, raw scores
    ece_after: np.ndarray  # per topic, validation split, scores at `temperature`

    def calibrated_logits(self, logits: np.ndarray) -> np.ndarray:
        return np.asarray(logits, dtype=float) / self.temperature

    def summary(self, topic_names: list[str]) -> dict:
        """The record kept in metrics.json and topics.json under "temperature"."""

        def by_topic(values: np.ndarray) -> dict[str, float]:
            return {name: float(v) for name, v in zip(topic_names, values, strict=True)}

        return {
            "values": by_topic(self.temperature),
            "folded_into_weights": True,  # the saved head already divides by T: never apply it again
            "validation_ece_before": by_topic(self.ece_before),
            "validation_ece_after": by_topic(self.ece_after),
            "validation_macro_ece_before": float(self.ece_before.mean()),
            "validation_macro_ece_after": float(self.ece_after.mean()),
        }


def calibrate(logits: np.ndarray, references: np.ndarray, multi_label: bool) -> Calibration:
    """Measure validation ECE; fit temperatures when it is poor (mean over topics > POOR_CALIBRATION_ECE)."""
    ece_before = expected_calibration_error(scores_from_logits(logits, multi_label), references)
    if ece_before.mean() <= POOR_CALIBRATION_ECE:
        return Calibration(np.ones(len(ece_before)), ece_before, ece_before)
    temperature = fit_temperature(logits, references, multi_label)
    ece_after = expected_calibration_error(scores_from_logits(logits / temperature, multi_label), references)
    return Calibration(temperature, ece_before, ece_after)


def fold_temperature(model: nn.Module, temperature: np.ndarray) -> None:
    """Divide the classifier head's outputs by T for good: row j of weight and bias[j] by T[j]."""
    head = model.classifier
    if not isinstance(head, nn.Linear):
        raise TypeError(f"expected the classifier head to be nn.Linear, got {type(head).__name__}")
    t = torch.as_tensor(temperature, dtype=head.weight.dtype, device=head.weight.device)
    with torch.no_grad():
        head.weight.div_(t[:, None])
        if head.bias is not None:
            head.bias.div_(t)
