"""Metrics as local `evaluate` modules, loaded by path so nothing is fetched from a hub."""

from __future__ import annotations

import functools
from pathlib import Path

import evaluate
import numpy as np

TOPIC_F1_PATH = Path(__file__).parent / "topic_f1"


@functools.cache
def _topic_f1() -> evaluate.EvaluationModule:
    return evaluate.load(str(TOPIC_F1_PATH))


def topic_metrics(predictions: np.ndarray, references: np.ndarray, label_names: list[str]) -> dict:
    """0/1 matrices (snippets x topics) -> micro/macro/per-topic P/R/F1 and exact match."""
    return _topic_f1().compute(
        predictions=np.asarray(predictions, dtype=int).tolist(),
        references=np.asarray(references, dtype=int).tolist(),
        label_names=label_names,
    )
