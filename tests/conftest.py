"""Shared fixtures: small topic lists and labeled files written to tmp dirs, and one tiny trained model.

Everything runs offline: the tiny model is a randomly initialised BERT (configs/tiny.yaml) that
borrows the bundled MiniLM tokenizer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOPICS = ["energy", "military", "finance"]
# Words that make each toy topic learnable even for a tiny random model.
VOCAB = {
    "energy": ["oil", "gas", "pipeline", "refinery", "crude", "grid"],
    "military": ["troops", "tanks", "drills", "missiles", "navy", "artillery"],
    "finance": ["bank", "bonds", "currency", "loan", "rates", "stocks"],
}
FILLER = ["the", "report", "said", "on", "monday", "officials", "region", "week", "new", "plans", "after"]
# One text's score differs in its last digits when it is batched with other texts, scored in another
# process or on another CPU: the order of floating-point sums changes (seen: 0.99087667 vs 0.99087673
# on an Intel CPU with AMX). Tests never compare scores bit for bit, only within this tolerance.
SCORE_TOLERANCE = 1e-4


def write_topics(path: Path, names=TOPICS) -> Path:
    lines = ["topics:"] + [f"  - name: {n}\n    description: toy topic {n}" for n in names]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def toy_rows(n: int = 240, seed: int = 0) -> list[dict]:
    """Toy multi-label snippets: each topic's words appear exactly when the topic is labeled."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        labels = [t for t in TOPICS if rng.random() < 0.4]
        words = [w for t in labels for w in rng.sample(VOCAB[t], 2)] + rng.sample(FILLER, 5)
        rng.shuffle(words)
        rows.append({"id": f"toy-{i}", "text": f"item {i} " + " ".join(words), "labels": labels})
    return rows


def assert_same_prediction(labels, scores: dict, expected_labels, expected_scores: dict, thresholds: dict) -> None:
    """Scores within SCORE_TOLERANCE; labels equal, except a topic whose score is that close to its
    threshold (it may fall on either side when the last digits move)."""
    assert scores == pytest.approx(expected_scores, abs=SCORE_TOLERANCE)
    borderline = {t for t, s in expected_scores.items() if abs(s - thresholds[t]) <= SCORE_TOLERANCE}
    assert set(labels) - borderline == set(expected_labels) - borderline


def tiny_train_args(data: Path, topics: Path, output_dir: Path, *overrides: str) -> list[str]:
    """`python -m training` arguments that train configs/tiny.yaml on these files into output_dir."""
    config = str(REPO / "configs/tiny.yaml")
    return ["train", "--config", config, "--train_files", f"[{data}]", "--topics_file", str(topics),
            "--output_dir", str(output_dir), *overrides]  # fmt: skip


@pytest.fixture
def topics_file(tmp_path) -> Path:
    return write_topics(tmp_path / "topics.yaml")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict:
    """Train configs/tiny.yaml once on toy data through the real entry point; tests share the result."""
    from training.cli import main

    root = tmp_path_factory.mktemp("tiny_run")
    data = write_jsonl(root / "toy.jsonl", toy_rows())
    blind = write_jsonl(root / "blind.jsonl", [dict(r, text=f"blind {r['text']}") for r in toy_rows(40, seed=9)])
    topics = write_topics(root / "topics.yaml")
    out = root / "run"
    code = main(tiny_train_args(data, topics, out, "--num_train_epochs", "8", "--eval_files", f"[{blind}]"))
    assert code == 0
    return {"output_dir": out, "model_dir": out / "model", "data": data, "topics": topics, "blind": blind}


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The model `make train` saves; tests that need it skip when it does not exist yet."""
    path = REPO / "runs/default/model"
    if not (path / "config.json").is_file():
        pytest.skip("no trained default model: run `make train` first")
    return path
