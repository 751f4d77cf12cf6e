"""The fast paths (PyTorch bf16 and int8, OpenVINO fp32, int8 and auto) must decide like the PyTorch fp32
reference on the default model's test split and on the blind evaluation set."""

import shutil

import numpy as np
import pytest
from conftest import REPO

from training.device import cpu_supports_bf16
from training.evaluation import evaluation_set
from training.inference import TopicClassifier
from training.metrics import topic_metrics
from training.openvino_backend import calibration_texts, export_openvino, training_files_of
from training.scoring import decisions, reference_matrix

MIN_AGREEMENT = 0.99  # of (snippet, topic) decisions
MAX_MACRO_F1_SHIFT = 0.01

pytestmark = [pytest.mark.needs_trained_model, pytest.mark.slow]


@pytest.fixture(scope="module")
def reference(default_model_dir) -> TopicClassifier:
    return TopicClassifier.from_pretrained(default_model_dir, precision="fp32")


@pytest.fixture(scope="module")
def eval_sets(reference) -> dict:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)  # the recipe's data paths are relative to the repo root
        return {
            "test split": evaluation_set(reference, None, "configs/default.yaml"),
            "blind set": evaluation_set(reference, "data/eval/blind.jsonl", None),
        }


@pytest.fixture(scope="module")
def exported_model_dir(default_model_dir, tmp_path_factory):
    """A copy of the default model with its OpenVINO export, int8 copy included, calibrated as
    `python -m training export` does (the user's model dir stays as it is)."""
    copy = tmp_path_factory.mktemp("openvino") / "model"
    shutil.copytree(default_model_dir, copy, ignore=shutil.ignore_patterns("openvino"))
    export_openvino(copy, calibration_texts([str(REPO / p) for p in training_files_of(copy)]))
    return copy


def decide(classifier: TopicClassifier, texts: list[str]) -> np.ndarray:
    thresholds = np.array([classifier.thresholds[n] for n in classifier.topics])
    return decisions(classifier.score(texts), classifier.multi_label, thresholds)


NATIVE_BF16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="no native bf16 here")


@pytest.mark.parametrize(
    ("backend", "precision"),
    [
        pytest.param("torch", "bf16", marks=NATIVE_BF16),
        ("torch", "int8"),
        ("openvino", "fp32"),
        ("openvino", "int8"),
        ("openvino", "auto"),  # bf16 where the CPU runs it fast, else int8 where int8 is fast
    ],
)
def test_fast_path_decides_like_fp32(reference, eval_sets, default_model_dir, exported_model_dir, backend, precision):
    model_dir = exported_model_dir if backend == "openvino" else default_model_dir
    fast = TopicClassifier.from_pretrained(model_dir, backend=backend, precision=precision)
    for name, rows in eval_sets.items():
        texts = list(rows["text"])
        expected, got = decide(reference, texts), decide(fast, texts)
        agreement = float((expected == got).mean())
        truth = reference_matrix(np.asarray(rows["labels"]), len(reference.topics), reference.multi_label)
        f1_fp32 = topic_metrics(expected, truth, reference.topics)["macro_f1"]
        f1_fast = topic_metrics(got, truth, reference.topics)["macro_f1"]
        label = f"{backend} {fast.precision}, {name}"
        print(f"\n{label}: {agreement:.2%} of {expected.size} decisions agree; macro-F1 {f1_fast:.4f} vs {f1_fp32:.4f}")
        assert agreement >= MIN_AGREEMENT, f"{label}: {agreement:.4f} of decisions agree with fp32"
        assert abs(f1_fast - f1_fp32) <= MAX_MACRO_F1_SHIFT, f"{label}: macro-F1 {f1_fast:.4f} vs {f1_fp32:.4f}"
