import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.conftest import REPO, TOPICS, toy_rows, write_jsonl, write_topics
from training.artifacts import TRAINING_CONFIG_FILE, read_topic_info
from training.calibration import (
    POOR_CALIBRATION_ECE,
    calibrate,
    fit_temperature,
    fold_temperature,
)
from training.cli import main
from training.data import build_dataset
from training.evaluation import data_arguments, score_metrics
from training.inference import TopicClassifier
from training.metrics import expected_calibration_error
from training.scoring import reference_matrix, scores_from_logits


def test_ece_by_hand():
    # Bins: [0, .1) holds 0.05 (truth 0), [.1, .2) holds 0.15 (truth 0), [.9, 1] holds 0.95 twice (one true).
    scores = np.array([[0.05], [0.15], [0.95], [0.95]])
    truth = np.array([[0], [0], [1], [0]])
    assert expected_calibration_error(scores, truth)[0] == pytest.approx((0.05 + 0.15 + abs(1.9 - 1)) / 4)
    assert expected_calibration_error(np.array([[1.0], [0.0]]), np.array([[1], [0]]))[0] == 0.0


def _binary_task(n: int, temperature: float, seed: int = 0):
    """Labels drawn from true logits, and the logits of a model over-confident by `temperature`."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0.0, 2.0, size=(n, 2))
    labels = (rng.random((n, 2)) < 1 / (1 + np.exp(-true_logits))).astype(int)
    return true_logits * temperature, labels


def test_ece_tells_calibrated_from_overconfident_scores():
    calibrated, labels = _binary_task(20_000, temperature=1.0)
    overconfident, _ = _binary_task(20_000, temperature=3.0)
    assert expected_calibration_error(scores_from_logits(calibrated, True), labels).max() < 0.02
    assert expected_calibration_error(scores_from_logits(overconfident, True), labels).min() > 0.08


def test_fit_temperature_recovers_the_overconfidence_per_topic():
    logits, labels = _binary_task(5_000, temperature=3.0)
    logits[:, 1] /= 6.0  # topic 1 is under-confident instead (effective temperature 0.5)
    np.testing.assert_allclose(fit_temperature(logits, labels, multi_label=True), [3.0, 0.5], rtol=0.1)


def test_fit_temperature_single_label_shares_one_temperature():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0.0, 1.5, size=(5_000, 4))
    probs = scores_from_logits(true_logits, multi_label=False)
    classes = np.array([rng.choice(4, p=p) for p in probs])
    fitted = fit_temperature(true_logits * 2.0, np.eye(4, dtype=int)[classes], multi_label=False)
    assert len(set(fitted)) == 1
    assert fitted[0] == pytest.approx(2.0, rel=0.1)


def test_a_topic_with_only_negatives_keeps_temperature_one():
    logits = np.array([[-3.0, 1.0], [-2.0, -1.0], [-4.0, 2.0], [-1.0, -2.0]])
    labels = np.array([[0, 1], [0, 0], [0, 1], [0, 0]])
    assert fit_temperature(logits, labels, multi_label=True)[0] == 1.0


def test_calibrate_leaves_good_scores_alone_and_fixes_poor_ones():
    good, labels = _binary_task(5_000, temperature=1.0)
    kept = calibrate(good, labels, multi_label=True)
    assert kept.ece_before.mean() <= POOR_CALIBRATION_ECE
    np.testing.assert_array_equal(kept.temperature, [1.0, 1.0])

    poor, labels = _binary_task(5_000, temperature=3.0)
    fitted = calibrate(poor, labels, multi_label=True)
    assert fitted.ece_before.mean() > POOR_CALIBRATION_ECE
    assert (fitted.ece_after < fitted.ece_before / 3).all()
    summary = fitted.summary(["a", "b"])
    assert summary["folded_into_weights"] is True
    assert summary["values"]["a"] == pytest.approx(fitted.temperature[0])


def test_folding_divides_the_saved_model_logits_by_the_temperature(tiny_run):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_run["model_dir"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_run["model_dir"])
    batch = tokenizer(
        ["oil gas pipeline", "troops tanks drills", "bank bonds loan"], padding=True, return_tensors="pt"
    )
    temperature = np.array([2.0, 0.5, 1.25])
    with torch.inference_mode():
        before = model(**batch).logits.numpy()
        fold_temperature(model, temperature)
        after = model(**batch).logits.numpy()
    np.testing.assert_allclose(after, before / temperature, rtol=1e-5, atol=1e-6)


def assert_saved_model_reproduces_the_validation_record(run_dir: Path) -> None:
    """The saved model, loaded the ordinary way, reproduces what training recorded for the validation
    split: its scores have the recorded "after" ECE (the temperature is in the weights) and, at the saved
    thresholds, the recorded metrics (thresholds were tuned on those calibrated scores, row for row)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    record = read_topic_info(run_dir / "model")["temperature"]
    assert record == metrics["temperature"]
    assert set(record["values"]) == set(TOPICS) and all(t > 0 for t in record["values"].values())
    recipe = yaml.safe_load((run_dir / "model" / TRAINING_CONFIG_FILE).read_text())
    validation = build_dataset(data_arguments(recipe, "training_config.yaml")).splits["validation"]
    scores = TopicClassifier.from_pretrained(run_dir / "model", precision="fp32").score(validation["text"])
    refs = reference_matrix(np.asarray(validation["labels"]), len(TOPICS), multi_label=True)
    after = [record["validation_ece_after"][t] for t in TOPICS]
    np.testing.assert_allclose(expected_calibration_error(scores, refs), after, atol=2e-3)
    thresholds = [metrics["thresholds"][t] for t in TOPICS]
    recomputed = score_metrics(scores, refs, TOPICS, True, thresholds)
    assert recomputed["macro_f1"] == pytest.approx(metrics["validation"]["macro_f1"], abs=0.02)


def test_training_saves_calibrated_scores_and_records_the_temperature(tiny_run):
    assert_saved_model_reproduces_the_validation_record(tiny_run["output_dir"])


def test_validation_scores_line_up_with_their_rows_under_group_by_length(tmp_path):
    # transformers 5 applies group_by_length to Trainer.predict() too, which reorders its output.
    data = write_jsonl(tmp_path / "toy.jsonl", toy_rows(160, seed=7))
    args = ["train", "--config", str(REPO / "configs/tiny.yaml"), "--train_files", f"[{data}]"]
    args += [
        "--topics_file",
        str(write_topics(tmp_path / "topics.yaml")),
        "--output_dir",
        str(tmp_path / "run"),
    ]
    args += ["--num_train_epochs", "6", "--train_sampling_strategy", "group_by_length"]
    assert main(args) == 0
    assert_saved_model_reproduces_the_validation_record(tmp_path / "run")
