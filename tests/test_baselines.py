import json
import random

import numpy as np
import pytest

from tests.conftest import FILLER, TOPICS, toy_rows, write_jsonl, write_topics
from training.baselines import BASELINES, minilm_embeddings, run_baselines
from training.data import DataArguments, build_dataset
from training.scoring import reference_matrix


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    data = write_jsonl(root / "toy.jsonl", toy_rows(240, seed=3))
    topics = str(write_topics(root / "topics.yaml"))
    return build_dataset(DataArguments([str(data)], topics, validation_fraction=0.2, test_fraction=0.2))


def test_both_baselines_learn_the_toy_topics_on_the_given_rows(toy_data):
    test = toy_data.splits["test"]
    refs = reference_matrix(np.asarray(test["labels"]), len(TOPICS), multi_label=True)
    results = run_baselines(toy_data, test["text"], refs, threshold_shrinkage=0.5, seed=0)
    assert list(results) == list(BASELINES)
    for name, result in results.items():
        assert result["description"] == BASELINES[name]
        assert set(result["per_topic"]) == set(TOPICS) == set(result["thresholds"])
        assert [result["per_topic"][t]["support"] for t in TOPICS] == refs.sum(axis=0).tolist()
        assert result["seconds"] >= 0
    # Each toy topic has its own words: word n-grams find them exactly; frozen embeddings nearly so.
    assert results["tfidf_logreg"]["macro_f1"] > 0.9
    assert results["minilm_probe"]["macro_f1"] > 0.7


def test_single_label_baselines_pick_one_class(tmp_path):
    rng = random.Random(0)
    # Digits do not make texts distinct (data.normalized_key), so the filler words must.
    rows = [
        {"text": " ".join(rng.sample(FILLER, 5) + [word]), "label": label}
        for _ in range(60)
        for word, label in (("football", "Sports"), ("election", "World"))
    ]
    files = [str(write_jsonl(tmp_path / "single.jsonl", rows))]
    data = build_dataset(DataArguments(files, None, validation_fraction=0.25, test_fraction=0.25))
    test = data.splits["test"]
    refs = reference_matrix(np.asarray(test["labels"]), 2, multi_label=False)
    results = run_baselines(data, test["text"], refs, threshold_shrinkage=0.5, seed=0)
    for result in results.values():
        assert result["thresholds"] == {}
        assert result["exact_match"] == 1.0


def test_embeddings_are_unit_length_and_independent_of_batching():
    texts = ["US sanctions target Russian crude exports", "short", "troops mass near the border " * 5]
    together = minilm_embeddings(texts)
    assert together.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    alone = np.vstack([minilm_embeddings([t]) for t in texts])
    # bf16 autocast (on CPUs that have it) may differ in the last bits between batch shapes.
    assert ((together * alone).sum(axis=1) > 0.9999).all()


def test_training_records_baselines_on_the_test_split(tiny_run):
    metrics = json.loads((tiny_run["output_dir"] / "metrics.json").read_text())
    assert list(metrics["baselines"]) == list(BASELINES)
    for result in metrics["baselines"].values():
        for topic in TOPICS:
            assert result["per_topic"][topic]["support"] == metrics["test"]["per_topic"][topic]["support"]
