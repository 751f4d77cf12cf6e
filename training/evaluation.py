"""Evaluate a saved model on labeled data, and format metrics for people."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np

from training.config import load_config
from training.data import build_dataset, load_labeled_file
from training.inference import TopicClassifier
from training.metrics import topic_metrics
from training.trainer import decisions, reference_matrix


def evaluation_set(classifier: TopicClassifier, data_file: str | None, config_file: str | None) -> datasets.Dataset:
    """A user's labeled file, or the test split of a recipe's data."""
    if data_file:
        return load_labeled_file(data_file, classifier.topics, classifier.multi_label)
    config = load_config(config_file)
    d = config.data
    return build_dataset(
        d.train_files, d.topics_file, d.validation_fraction, d.test_fraction, d.split_seed
    ).splits["test"]


def evaluate_model(classifier: TopicClassifier, dataset: datasets.Dataset) -> dict:
    scores = classifier.score(dataset["text"])
    thresholds = np.array([classifier.thresholds[n] for n in classifier.topics])
    refs = reference_matrix(np.asarray(dataset["labels"]), len(classifier.topics), classifier.multi_label)
    return topic_metrics(decisions(scores, classifier.multi_label, thresholds), refs, classifier.topics)


def format_metrics(metrics: dict, thresholds: dict[str, float] | None = None) -> str:
    """A plain-text per-topic table with micro/macro/exact-match rows."""
    thresholds = thresholds or {}
    lines = [f"{'topic':<18}{'support':>8}{'prec':>8}{'recall':>8}{'f1':>8}{'thresh':>8}"]
    for name, m in metrics["per_topic"].items():
        t = f"{thresholds[name]:.2f}" if name in thresholds else ""
        lines.append(f"{name:<18}{m['support']:>8}{m['precision']:>8.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{t:>8}")
    for avg in ("micro", "macro"):
        lines.append(
            f"{avg:<18}{'':>8}{metrics[avg + '_precision']:>8.3f}"
            f"{metrics[avg + '_recall']:>8.3f}{metrics[avg + '_f1']:>8.3f}"
        )
    lines.append(f"{'exact match':<18}{'':>8}{metrics['exact_match']:>8.3f}")
    return "\n".join(lines)


def default_output(model_dir: str | Path, data_file: str | None) -> Path:
    name = f"evaluation-{Path(data_file).stem}.json" if data_file else "evaluation-test.json"
    return Path(model_dir).parent / name
