import math

import numpy as np
import pytest

from training.scoring import DEFAULT_THRESHOLD, checked_threshold, decisions, reference_matrix, scores_from_logits


def test_multi_label_scores_are_sigmoids_and_single_label_a_softmax():
    logits = np.array([[0.0, 2.0, -2.0]])
    np.testing.assert_allclose(scores_from_logits(logits, True), 1 / (1 + np.exp(-logits)))
    softmax = scores_from_logits(logits, False)
    assert softmax.sum() == pytest.approx(1.0) and softmax.argmax() == 1
    # Large logits do not overflow the softmax.
    assert np.isfinite(scores_from_logits(np.array([[1000.0, 0.0]]), False)).all()


def test_decisions_use_per_topic_thresholds_or_the_arg_max():
    scores = np.array([[0.6, 0.4], [0.2, 0.9]])
    assert decisions(scores, True).tolist() == [[1, 0], [0, 1]]
    assert decisions(scores, True, [0.7, 0.3]).tolist() == [[0, 1], [0, 1]]
    assert decisions(scores, False).tolist() == [[1, 0], [0, 1]]
    assert DEFAULT_THRESHOLD == 0.5


def test_reference_matrix_from_multi_hot_or_class_indices():
    assert reference_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]), 2, True).tolist() == [[1, 0], [0, 0]]
    assert reference_matrix(np.array([1, 0]), 2, False).tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize("value", [0, 0.5, 1, 1.0])
def test_numbers_in_0_1_are_thresholds(value):
    assert checked_threshold(value) == float(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.01, 1.01, True, "0.5", None, [0.5]])
def test_anything_else_is_not(value):
    with pytest.raises(ValueError, match="threshold must be a number in \\[0, 1\\]"):
        checked_threshold(value)
