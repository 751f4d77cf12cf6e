"""Checks on the model `make train` leaves in runs/default/model (skipped until it exists)."""

import json
from pathlib import Path

import pytest

from training import TopicClassifier
from training.evaluation import evaluation_set, score_metrics, score_split

REPO = Path(__file__).resolve().parents[1]
SEEDS = [json.loads(line) for line in (REPO / "data/snippets/seed.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def classifier(default_model_dir) -> TopicClassifier:
    return TopicClassifier.from_pretrained(default_model_dir)


def test_seed_snippets_get_the_guides_topics(classifier):
    """The annotation guide's worked examples: the main topic always, the full set on nearly all."""
    predictions = classifier.predict([s["text"] for s in SEEDS])
    exact = 0
    for seed, p in zip(SEEDS, predictions, strict=True):
        expected = set(seed["labels"])
        if expected:
            assert seed["labels"][0] in p.labels, (seed["id"], p.labels, seed["labels"])
        else:
            assert p.labels == [], (seed["id"], p.labels)
        exact += set(p.labels) == expected
    assert exact >= 9, f"only {exact} of {len(SEEDS)} seeds got exactly the guide's topics"


def test_held_out_quality_floor(classifier):
    """Re-scored from the saved model on the default recipe's test split, not read from metrics.json."""
    split = score_split(classifier, evaluation_set(classifier, None, str(REPO / "configs/default.yaml")), "test")
    metrics = score_metrics(split.scores, split.references, split.topics, split.multi_label, split.thresholds)
    assert metrics["macro_f1"] >= 0.88
    assert min(m["f1"] for m in metrics["per_topic"].values()) >= 0.75


def test_framing_does_not_add_topics(classifier):
    """Boundary rules of the guide, on sentences written for this test (not in the corpus)."""
    cases = {
        "Sign up for our weekly newsletter on diplomacy, trade and nuclear weapons.": set(),
        "The striker's transfer fee broke the club record, and fans packed the stadium on Sunday.": set(),
        "Beijing's new nuclear power plant on the coast will feed the grid from next spring.": {"energy"},
    }
    for text, expected in cases.items():
        labels = set(classifier.predict(text).labels)
        assert "nuclear-weapons" not in labels
        if not expected:
            assert labels == set(), (text, labels)
        else:
            assert expected <= labels, (text, labels)
