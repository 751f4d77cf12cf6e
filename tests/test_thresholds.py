import numpy as np

from training.thresholds import DEFAULT_THRESHOLD, tune_thresholds


def test_a_clear_low_threshold_is_found_and_shrunk():
    rng = np.random.default_rng(0)
    truth = rng.random(400) < 0.3
    # Positives score around 0.3, negatives around 0.05: the best cut is far below 0.5.
    scores = np.where(truth, rng.uniform(0.2, 0.45, 400), rng.uniform(0.0, 0.12, 400))
    t = tune_thresholds(scores[:, None], truth[:, None], ["x"], shrinkage=0.5)["x"]
    assert 0.3 < t < 0.5  # halfway between the tuned value (~0.15) and 0.5


def test_scores_already_separated_at_half_keep_the_default():
    rng = np.random.default_rng(1)
    truth = rng.random(300) < 0.3
    scores = np.where(truth, rng.uniform(0.6, 0.9, 300), rng.uniform(0.1, 0.4, 300))
    assert tune_thresholds(scores[:, None], truth[:, None], ["x"]) == {"x": DEFAULT_THRESHOLD}


def test_a_threshold_that_only_fits_one_half_is_not_kept():
    # The first half is separable at 0.2, the second at 0.8: each half's tuned threshold fails on
    # the other half, so the held-out check keeps 0.5.
    truth = np.array([1, 0] * 50 + [1, 0] * 50, dtype=bool)
    scores = np.array([0.25, 0.15] * 50 + [0.85, 0.75] * 50)
    assert tune_thresholds(scores[:, None], truth[:, None], ["x"], seed=0)["x"] == DEFAULT_THRESHOLD


def test_topic_without_positives_keeps_the_default():
    scores = np.random.default_rng(2).random((100, 1))
    assert tune_thresholds(scores, np.zeros((100, 1)), ["x"]) == {"x": DEFAULT_THRESHOLD}


def test_zero_shrinkage_keeps_the_tuned_value():
    rng = np.random.default_rng(3)
    truth = rng.random(400) < 0.3
    scores = np.where(truth, rng.uniform(0.2, 0.45, 400), rng.uniform(0.0, 0.12, 400))
    t = tune_thresholds(scores[:, None], truth[:, None], ["x"], shrinkage=0.0)["x"]
    assert 0.1 <= t <= 0.2
