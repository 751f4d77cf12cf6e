"""Score a saved model on labeled data: the one path behind `make evaluate` and every number `make train`
reports (it scores validation, test and blind sets through the same TopicClassifier users load)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import datasets
import numpy as np
import yaml

from training.artifacts import TRAINING_CONFIG_FILE, read_topic_info, write_json_atomic
from training.baselines import run_baselines
from training.config import parse_yaml
from training.data import DataArguments, build_dataset, load_labeled_file
from training.errors import ConfigError, DataError
from training.inference import TopicClassifier
from training.metrics import bootstrap_macro_f1, expected_calibration_error, topic_metrics
from training.report import ScoredSplit, write_report
from training.scoring import decisions, reference_matrix

logger = logging.getLogger(__name__)


def data_arguments(recipe: dict, origin: str) -> DataArguments:
    """The data keys of a flat recipe (a configs/*.yaml file, or a model's training_config.yaml)."""
    keys = {f.name for f in dataclasses.fields(DataArguments)}
    try:
        return DataArguments(**{k: v for k, v in recipe.items() if k in keys})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{origin}: {e}") from e


def evaluation_set(classifier: TopicClassifier, data_file: str | None, config_file: str | None) -> datasets.Dataset:
    """A user's labeled file, or the test split of a recipe's data."""
    if data_file:
        return load_labeled_file(data_file, classifier.topics, classifier.multi_label)
    path = Path(config_file)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    return build_dataset(data_arguments(parse_yaml(path.read_text(encoding="utf-8")) or {}, str(path))).splits["test"]


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


def split_metrics(split: ScoredSplit, thresholds=None) -> dict:
    """score_metrics of a scored split, at its own thresholds unless others are given."""
    chosen = split.thresholds if thresholds is None else thresholds
    return score_metrics(split.scores, split.references, split.topics, split.multi_label, chosen)


def recipe_baselines(model_dir: str | Path, split: ScoredSplit) -> dict[str, dict]:
    """The baselines fitted on the model's own train/validation splits, read from the recipe it was
    trained with; {} when that data is not here (a model trained elsewhere) or no longer matches."""
    recipe = yaml.safe_load((Path(model_dir) / TRAINING_CONFIG_FILE).read_text(encoding="utf-8"))
    try:
        data = build_dataset(data_arguments(recipe, str(Path(model_dir) / TRAINING_CONFIG_FILE)))
    except (ConfigError, DataError) as e:
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
    metrics = split_metrics(split)
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
    write_report(report_dir(output), title, split, metrics, baselines, temperature, classifier.explain)
    return results


def default_output(model_dir: str | Path, data_file: str | None) -> Path:
    name = f"evaluation-{Path(data_file).stem}.json" if data_file else "evaluation-test.json"
    return Path(model_dir).parent / name


def report_dir(metrics_json: str | Path) -> Path:
    """The report beside its metrics JSON: runs/default/evaluation-x.json -> runs/default/eval-x/."""
    path = Path(metrics_json)
    return path.parent / f"eval-{path.stem.removeprefix('evaluation-')}"
