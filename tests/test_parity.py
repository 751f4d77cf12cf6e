"""The fast paths (bf16, int8) must decide like the fp32 reference on the default model's test split."""

import numpy as np
import pytest
from conftest import REPO

from training.device import cpu_supports_bf16
from training.evaluation import evaluation_set
from training.inference import TopicClassifier
from training.metrics import topic_metrics
from training.scoring import decisions, reference_matrix

MIN_AGREEMENT = 0.99  # of (snippet, topic) decisions
MAX_MACRO_F1_SHIFT = 0.01

pytestmark = [pytest.mark.needs_trained_model, pytest.mark.slow]


@pytest.fixture(scope="module")
def reference(default_model_dir) -> TopicClassifier:
    return TopicClassifier.from_pretrained(default_model_dir, precision="fp32")


@pytest.fixture(scope="module")
def test_split(reference):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)  # the recipe's data paths are relative to the repo root
        return evaluation_set(reference, None, "configs/default.yaml")


def decide(classifier: TopicClassifier, texts: list[str]) -> np.ndarray:
    thresholds = np.array([classifier.thresholds[n] for n in classifier.topics])
    return decisions(classifier.score(texts), classifier.multi_label, thresholds)


@pytest.mark.parametrize(
    "precision",
    [
        pytest.param("bf16", marks=pytest.mark.skipif(not cpu_supports_bf16(), reason="no native bf16 here")),
        "int8",
    ],
)
def test_fast_path_decides_like_fp32(reference, test_split, default_model_dir, precision):
    fast = TopicClassifier.from_pretrained(default_model_dir, precision=precision)
    texts = list(test_split["text"])
    expected, got = decide(reference, texts), decide(fast, texts)
    agreement = float((expected == got).mean())
    print(f"\n{precision}: {agreement:.2%} of {expected.size} decisions agree with fp32", end="")
    assert agreement >= MIN_AGREEMENT, f"{precision}: {agreement:.4f} of decisions agree with fp32"

    truth = reference_matrix(np.asarray(test_split["labels"]), len(reference.topics), reference.multi_label)
    f1_fp32 = topic_metrics(expected, truth, reference.topics)["macro_f1"]
    f1_fast = topic_metrics(got, truth, reference.topics)["macro_f1"]
    print(f"; macro-F1 {f1_fast:.4f} vs {f1_fp32:.4f}")
    assert abs(f1_fast - f1_fp32) <= MAX_MACRO_F1_SHIFT, (
        f"{precision}: macro-F1 {f1_fast:.4f} vs {f1_fp32:.4f}"
    )
