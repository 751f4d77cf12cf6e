import json

import numpy as np
import pytest

from tests.conftest import TOPICS, toy_rows, write_jsonl, write_topics
from training.errors import ConfigError
from training.evaluation import (
    data_arguments,
    default_output,
    evaluate_and_report,
    evaluation_set,
    report_dir,
    score_metrics,
)
from training.inference import TopicClassifier


def test_score_metrics_adds_calibration_topic_counts_and_an_interval():
    rng = np.random.default_rng(0)
    refs = (rng.random((200, 3)) < 0.3).astype(int)
    scores = np.clip(refs * 0.7 + rng.random((200, 3)) * 0.4, 0, 1)
    metrics = score_metrics(scores, refs, TOPICS, True, 0.5)
    assert set(metrics["per_topic"]["energy"]) == {"precision", "recall", "f1", "support", "ece"}
    assert metrics["labeled_topics_per_snippet"] == pytest.approx(refs.sum(1).mean())
    low, high = metrics["macro_f1_ci95"]
    assert low <= metrics["macro_f1"] <= high


def test_a_recipe_test_split_needs_only_its_data_keys(tmp_path, tiny_run):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"train_files: [{tiny_run['data']}]\ntopics_file: {tiny_run['topics']}\ntest_fraction: 0.2\n"
        "validation_fraction: 0.2\nlearning_rate: 1.0e-3\n"
    )
    classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")
    test = evaluation_set(classifier, None, str(recipe))
    trained = json.loads((tiny_run["output_dir"] / "metrics.json").read_text())
    assert len(test) == trained["examples"]["test"]


def test_bad_data_keys_name_the_recipe():
    with pytest.raises(ConfigError, match="recipe.yaml: validation_fraction must be in"):
        data_arguments({"validation_fraction": 2}, "recipe.yaml")


def test_evaluate_writes_json_and_report_side_by_side(tmp_path, tiny_run):
    rows = toy_rows(30, seed=3)
    data = write_jsonl(tmp_path / "mine.jsonl", rows)
    output = default_output(tmp_path / "model", str(data))
    assert output == tmp_path / "evaluation-mine.json" and report_dir(output) == tmp_path / "eval-mine"
    results = evaluate_and_report(tiny_run["model_dir"], str(data), None, output)
    assert results["n"] == 30 and json.loads(output.read_text())["macro_f1"] == results["macro_f1"]
    assert (report_dir(output) / "report.md").is_file()
    assert set(results["baselines"]) == {"tfidf_logreg", "minilm_probe"}


def test_a_file_missing_some_topics_averages_over_the_ones_it_has(tmp_path, tiny_run):
    rows = [r for r in toy_rows(80, seed=4) if "finance" not in r["labels"]]
    write_topics(tmp_path / "topics.yaml")
    results = evaluate_and_report(
        tiny_run["model_dir"], str(write_jsonl(tmp_path / "no-finance.jsonl", rows)), None, tmp_path / "out.json"
    )
    assert results["macro_topics"] == 2
    report = (tmp_path / "eval-out" / "report.md").read_text()
    assert "over the 2 topics present here" in report
