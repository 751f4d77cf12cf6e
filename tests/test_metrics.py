import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from training.metrics import bootstrap_macro_f1, topic_metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    refs = (rng.random((50, 4)) < 0.3).astype(int)
    preds = np.where(rng.random((50, 4)) < 0.8, refs, 1 - refs)
    preds[:, 3] = 0  # a topic never predicted: precision 0 by convention, as zero_division=0
    names = ["a", "b", "c", "d"]
    m = topic_metrics(preds, refs, names)
    for avg in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(refs, preds, average=avg, zero_division=0)
        assert m[f"{avg}_precision"] == pytest.approx(p)
        assert m[f"{avg}_recall"] == pytest.approx(r)
        assert m[f"{avg}_f1"] == pytest.approx(f)
    p, r, f, s = precision_recall_fscore_support(refs, preds, average=None, zero_division=0)
    for i, name in enumerate(names):
        assert m["per_topic"][name] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
        )
    assert m["exact_match"] == pytest.approx(accuracy_score(refs, preds))


def test_perfect_predictions_score_one():
    refs = np.array([[1, 0], [0, 1], [0, 0]])
    m = topic_metrics(refs, refs, ["x", "y"])
    assert m["macro_f1"] == m["micro_f1"] == m["exact_match"] == 1.0


def test_macro_averages_only_the_topics_the_references_contain():
    refs = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    preds = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0]])  # a wrong tag of the absent third topic
    m = topic_metrics(preds, refs, ["x", "y", "z"])
    assert m["macro_topics"] == 2 and m["macro_f1"] == 1.0
    assert m["per_topic"]["z"]["f1"] == 0.0 and m["micro_f1"] < 1.0


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_rows():
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 1600):
        refs = (rng.random((n, 5)) < 0.3).astype(int)
        preds = np.where(rng.random((n, 5)) < 0.85, refs, 1 - refs)
        low, high = bootstrap_macro_f1(preds, refs)
        assert low < topic_metrics(preds, refs, list("abcde"))["macro_f1"] < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ~1/sqrt(16) of the width
