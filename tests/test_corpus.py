"""The shipped corpus (data/snippets/) and blind evaluation set (data/eval/) meet the shape the dataset
card promises: the label shape of real news, and a blind set that shares no text with the corpus."""

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from training.config import load_config
from training.data import build_dataset, normalized_key
from training.topics import load_topics

REPO = Path(__file__).resolve().parents[1]
FILES = sorted((REPO / "data/snippets").glob("*.jsonl"))
EVAL_FILES = sorted((REPO / "data/eval").glob("*.jsonl"))
TOPICS = [t.name for t in load_topics(REPO / "data/topics.yaml")]
STYLES = {"seed", "wire", "headline", "analysis", "quote", "stats", "digest", "transcript"}
STYLES |= {"boilerplate", "offtopic", "trap", "press-release", "trade-press", "state-media"}

# The worked examples of the annotation guide (shared/TAXONOMY.md), in seed order.
SEED_LABELS = [
    {"cyber-espionage", "military"},
    {"military", "diplomacy"},
    {"diplomacy"},
    {"diplomacy"},
    {"nuclear-weapons"},
    {"transport"},
    {"energy", "finance"},
    {"sanctions", "energy"},
    {"trade", "energy", "sanctions"},
    {"trade"},
    set(),
]


def _load_stats_module():
    spec = importlib.util.spec_from_file_location("corpus_stats", REPO / "scripts/corpus_stats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_rows(files) -> list[dict]:
    return [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return read_rows(FILES)


@pytest.fixture(scope="module")
def blind_rows() -> list[dict]:
    return read_rows(EVAL_FILES)


def test_schema_and_vocabulary(rows):
    assert len(rows) >= 4000
    for r in rows:
        assert set(r) == {"id", "text", "labels", "style"}, r["id"]
        assert isinstance(r["text"], str) and r["text"].strip() == r["text"] and r["text"]
        assert all(label in TOPICS for label in r["labels"]), r["id"]
        assert len(set(r["labels"])) == len(r["labels"]), r["id"]
        assert r["style"] in STYLES, r["id"]
    assert len({r["id"] for r in rows}) == len(rows)


def test_lengths(rows):
    words = [len(r["text"].split()) for r in rows if r["style"] != "seed"]
    assert all(8 <= w <= 90 for w in words)
    mean = sum(words) / len(words)
    assert 28 <= mean <= 45
    assert sum(20 <= w <= 60 for w in words) / len(words) >= 0.6


def test_label_shape_is_the_shape_of_real_news(rows):
    # Real news (issue 12's measurement): 52% one topic, 35% two, 5% three, 8% none, 1.37 per snippet.
    per_topic = Counter(label for r in rows for label in r["labels"])
    for topic in TOPICS:
        assert per_topic[topic] >= 400, topic
    n = len(rows)
    assert sum(len(r["labels"]) == 1 for r in rows) / n >= 0.48
    assert sum(len(r["labels"]) >= 2 for r in rows) / n <= 0.45
    assert 0.07 <= sum(not r["labels"] for r in rows) / n <= 0.10
    assert sum(len(r["labels"]) for r in rows) / n <= 1.45


def test_every_topic_often_stands_alone(rows):
    # A model that learns "a second topic is almost always there" over-tags real news.
    alone = Counter(r["labels"][0] for r in rows if len(r["labels"]) == 1)
    total = Counter(label for r in rows for label in r["labels"])
    minimum = {"energy": 0.18, "sanctions": 0.05}
    for topic in TOPICS:
        assert alone[topic] / total[topic] >= minimum.get(topic, 0.25), topic


def test_seed_snippets_carry_the_guides_labels(rows):
    seeds = [r for r in rows if r["style"] == "seed"]
    assert [set(r["labels"]) for r in seeds] == SEED_LABELS


def test_no_near_duplicates(rows):
    # 3-word-shingle Jaccard >= 0.5 would mean one line was written from another.
    stats = _load_stats_module()
    pairs = stats.near_duplicates([r["text"] for r in rows], 0.5)
    assert pairs == [], [(rows[a]["id"], rows[b]["id"], round(j, 2)) for a, b, j in pairs[:5]]


def test_no_leakage_across_splits():
    data = load_config(REPO / "configs/default.yaml").data
    splits = build_dataset(data).splits
    keys = {name: {normalized_key(t) for t in ds["text"]} for name, ds in splits.items()}
    assert not keys["train"] & keys["test"]
    assert not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    for name in ("validation", "test"):
        assert len(splits[name]) >= 250


def test_blind_set_schema_and_shape(blind_rows):
    assert len(blind_rows) >= 300
    for r in blind_rows:
        assert set(r) == {"id", "text", "labels", "voice"}, r["id"]
        assert all(label in TOPICS for label in r["labels"]) and len(set(r["labels"])) == len(r["labels"]), r["id"]
    n = len(blind_rows)
    assert 0.45 <= sum(len(r["labels"]) == 1 for r in blind_rows) / n <= 0.60
    assert 1.25 <= sum(len(r["labels"]) for r in blind_rows) / n <= 1.50


def _word_runs(text: str, length: int = 12) -> set[tuple[str, ...]]:
    words = re.findall(r"[^\W\d_]+|\d+", text.lower())
    return {tuple(words[i : i + length]) for i in range(len(words) - length + 1)}


def test_blind_set_shares_no_text_with_the_corpus(rows, blind_rows):
    corpus_keys = {normalized_key(r["text"]) for r in rows}
    corpus_runs = set().union(*(_word_runs(r["text"]) for r in rows))
    for r in blind_rows:
        assert normalized_key(r["text"]) not in corpus_keys, r["id"]
        assert not _word_runs(r["text"]) & corpus_runs, r["id"]  # no 12-word run in common
