"""The shipped corpus (data/snippets/) meets the shape the dataset card promises."""

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from training.config import load_config
from training.data import build_dataset, normalized_key
from training.topics import load_topics

REPO = Path(__file__).resolve().parents[1]
FILES = sorted((REPO / "data/snippets").glob("*.jsonl"))
TOPICS = [t.name for t in load_topics(REPO / "data/topics.yaml")]
STYLES = {"seed", "wire", "headline", "analysis", "quote", "stats", "digest", "transcript"}
STYLES |= {"boilerplate", "offtopic", "trap"}

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


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    out = []
    for path in FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def test_schema_and_vocabulary(rows):
    assert len(rows) >= 2000
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


def test_topic_and_multi_label_minimums(rows):
    per_topic = Counter(label for r in rows for label in r["labels"])
    for topic in TOPICS:
        assert per_topic[topic] >= 200, topic
    assert sum(len(r["labels"]) >= 2 for r in rows) / len(rows) >= 0.35
    assert sum(not r["labels"] for r in rows) / len(rows) >= 0.05


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
    splits = build_dataset(
        data.train_files, data.topics_file, data.validation_fraction, data.test_fraction, data.split_seed
    ).splits
    keys = {name: {normalized_key(t) for t in ds["text"]} for name, ds in splits.items()}
    assert not keys["train"] & keys["test"]
    assert not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    for name in ("validation", "test"):
        assert len(splits[name]) >= 250
