"""Evaluate a saved model on labeled data, and format metrics for people."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import numpy as np
import yaml

from training.artifacts import TRAINING_CONFIG_FILE, read_topic_info, write_json_atomic
from training.baselines import run_baselines
from training.calibration import expected_calibration_error
from training.config import load_config
from training.data import build_dataset, load_labeled_file
from training.errors import DataError
from training.inference import TopicClassifier
from training.metrics import topic_metrics
from training.report import ScoredSplit, write_report
from training.scoring import decisions, reference_matrix

logger = logging.getLogger(__name__)


def evaluation_set(classifier: TopicClassifier, data_file: str | None, config_file: str | None) -> datasets.Dataset:
    """A user's labeled file, or the test split of a recipe's data."""
    if data_file:
        return load_labeled_file(data_file, classifier.topics, classifier.multi_label)
    config = load_config(config_file)
    d = config.data
    return build_dataset(
        d.train_files, d.topics_file, d.validation_fraction, d.test_fraction, d.split_seed
    ).splits["test"]


# Resamples for the macro-F1 interval: the 2.5th and 97.5th percentiles move by ~0.002 between seeds.
BOOTSTRAP_RESAMPLES = 1000


def score_metrics(
    scores: np.ndarray, references: np.ndarray, topic_names: list[str], multi_label: bool, thresholds
) -> dict:
    """topic_metrics at these thresholds, plus each topic's expected calibration error ("ece"), topics per
    snippet predicted and labeled (over-tagging shows here first), and a bootstrap 95% interval of macro-F1."""
    predicted = decisions(scores, multi_label, thresholds)
    metrics = topic_metrics(predicted, references, topic_names)
    ece = expected_calibration_error(scores, references)
    for name, value in zip(topic_names, ece, strict=True):
        metrics["per_topic"][name]["ece"] = float(value)
    metrics["macro_ece"] = float(ece.mean())
    metrics["predicted_topics_per_snippet"] = float(predicted.sum(axis=1).mean())
    metrics["labeled_topics_per_snippet"] = float(np.asarray(references).sum(axis=1).mean())
    metrics["macro_f1_ci95"] = bootstrap_macro_f1(predicted, references)
    return metrics


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
    # Each resample as counts per snippet, so one matrix product gives every resample's tp/fp/fn.
    n = len(references)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=resamples)
    tp = counts @ (predicted & references)[:, present]
    wrong = counts @ (predicted ^ references)[:, present]  # fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong), np.nan)
    low, high = np.percentile(np.nanmean(f1, axis=1), [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def score_split(classifier: TopicClassifier, dataset: datasets.Dataset, name: str) -> ScoredSplit:
    labels = np.asarray(dataset["labels"])
    return ScoredSplit(
        name=name,
        texts=list(dataset["text"]),
        scores=classifier.score(dataset["text"]),
        references=reference_matrix(labels, len(classifier.topics), classifier.multi_label),
        topics=classifier.topics,
        thresholds=np.array([classifier.thresholds[n] for n in classifier.topics]),
        multi_label=classifier.multi_label,
    )


def recipe_baselines(model_dir: str | Path, split: ScoredSplit) -> dict[str, dict]:
    """The baselines fitted on the model's own train/validation splits, read from the recipe it was
    trained with; {} when that data is not here (a model trained elsewhere) or no longer matches."""
    recipe = yaml.safe_load((Path(model_dir) / TRAINING_CONFIG_FILE).read_text(encoding="utf-8"))
    try:
        data = build_dataset(
            recipe["train_files"],
            recipe["topics_file"],
            recipe["validation_fraction"],
            recipe["test_fraction"],
            recipe["split_seed"],
        )
    except DataError as e:
        logger.warning("baselines skipped: the model's training data cannot be read here: %s", e)
        return {}
    if data.topic_names != split.topics or data.multi_label != split.multi_label:
        logger.warning("baselines skipped: the recipe's data no longer has the model's topics")
        return {}
    return run_baselines(data, split.texts, split.references, recipe["threshold_shrinkage"], recipe["seed"])


def evaluate_and_report(
    model_dir: str | Path, data_file: str | None, config_file: str | None, output: str | Path
) -> dict:
    """Score a saved model on a labeled file (or a recipe's test split), run the baselines on the
    same rows, and write the metrics JSON at `output` and the report dir beside it. Returns the JSON."""
    classifier = TopicClassifier.from_pretrained(model_dir)
    name = data_file or f"the test split of {config_file}"
    split = score_split(classifier, evaluation_set(classifier, data_file, config_file), name)
    metrics = score_metrics(split.scores, split.references, split.topics, split.multi_label, split.thresholds)
    baselines = recipe_baselines(model_dir, split)
    temperature = read_topic_info(model_dir).get("temperature")
    results = {
        "model": str(model_dir),
        "data": name,
        "n": len(split.texts),
        "thresholds": classifier.thresholds,
        **metrics,
        "baselines": baselines,
        "temperature": temperature,
    }
    write_json_atomic(output, results)
    title = f"Evaluation report: {model_dir}"
    write_report(report_dir(output), title, split, metrics, baselines, temperature)
    return results


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
    if "macro_f1_ci95" in metrics:
        low, high = metrics["macro_f1_ci95"]
        lines.append(f"macro-F1 {metrics['macro_f1']:.3f}, bootstrap 95% interval [{low:.3f}, {high:.3f}]")
        lines.append(
            f"topics per snippet: predicted {metrics['predicted_topics_per_snippet']:.2f}, "
            f"labeled {metrics['labeled_topics_per_snippet']:.2f}"
        )
    return "\n".join(lines)


def format_baselines(metrics: dict, baselines: dict[str, dict]) -> str:
    """One line per baseline: its macro-F1 and how far the fine-tuned model is ahead of it."""
    if not baselines:
        return "baselines: not run (the model's training data is not here)"
    return "\n".join(
        f"{b['description']:<48} macro-F1 {b['macro_f1']:.3f}, "
        f"fine-tuned {metrics['macro_f1'] - b['macro_f1']:+.3f}"
        for b in baselines.values()
    )


def default_output(model_dir: str | Path, data_file: str | None) -> Path:
    name = f"evaluation-{Path(data_file).stem}.json" if data_file else "evaluation-test.json"
    return Path(model_dir).parent / name


def report_dir(metrics_json: str | Path) -> Path:
    """The report beside its metrics JSON: runs/default/evaluation-x.json -> runs/default/eval-x/."""
    path = Path(metrics_json)
    return path.parent / f"eval-{path.stem.removeprefix('evaluation-')}"
