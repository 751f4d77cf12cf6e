"""Which snippets to label next: the model's most uncertain calls, spread over different stories.

    python -m training suggest --pool inbox.jsonl --n 100        # or: make suggest POOL=inbox.jsonl N=100
    # -> runs/suggest/queue.jsonl, one row per snippet to label, best first

The pool is any JSONL, CSV or Parquet file with a `text` column (training.readers, as predict-file reads).
Texts already labeled (the model's training files, its blind evaluation files, and everything labeled
since: data/snippets/labeled-*.jsonl) are dropped, with the same normalisation as the hash split, and so
are repeats inside the pool.

The strategy, multi-label and threshold-aware:
- **uncertainty**: a snippet's margin is how close its closest topic is to that topic's own tuned threshold,
  in logit units (|logit - logit(threshold)|); a topic sitting on its threshold is the call a label settles;
- **diversity**: the most uncertain candidates (ten per requested snippet) are clustered by sentence vectors
  (the fine-tuned encoder's mean-pooled tokens) into as many groups as snippets requested, with
  scikit-learn's k-means, and each group gives its most uncertain member. A batch of 100 is then 100
  different stories, not 100 rewrites of the most confusing one.
small-text has multi-label query strategies, but they work through its own classifier and dataset wrappers
and decide at a single 0.5 boundary; the per-topic thresholds are what this model decides with, and the
whole strategy is the two steps above, so it is written here.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import numpy as np
import yaml

from training.artifacts import TRAINING_CONFIG_FILE, atomic_text_file
from training.data import normalized_key
from training.errors import DataError
from training.readers import read_rows
from training.scoring import ranked_labels

DEFAULT_QUEUE = Path("runs/suggest/queue.jsonl")
# Rows labeled in the review page (training.labeling) are appended here; training reads data/snippets/*.jsonl.
LABELED_PATTERN = "data/snippets/labeled-*.jsonl"
# Candidates clustered per snippet asked for: enough choice inside each cluster, few enough to embed fast.
CANDIDATES_PER_PICK = 10


def labeled_patterns(model_dir: str | Path) -> list[str]:
    """Every file whose texts count as labeled already: the model's train and eval files, and new labels."""
    recipe = yaml.safe_load((Path(model_dir) / TRAINING_CONFIG_FILE).read_text(encoding="utf-8")) or {}
    return [*recipe.get("train_files", []), *recipe.get("eval_files", []), LABELED_PATTERN]


def labeled_keys(patterns: list[str]) -> set[str]:
    keys = set()
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            keys.update(normalized_key(str(row.get("text") or "")) for _, row in read_rows(path))
    return keys


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def suggest(
    classifier, pool: str | Path, n: int, already_labeled: set[str], output: str | Path = DEFAULT_QUEUE
) -> list[dict]:
    """Rank the pool and write the n snippets to label next to `output` (JSONL, atomically); returns them."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    pool = Path(pool)
    rows, seen = [], set(already_labeled)
    for line_no, row in read_rows(pool):
        text = row.get("text")
        key = normalized_key(text) if isinstance(text, str) else ""
        if key and key not in seen:
            seen.add(key)
            rows.append({"id": str(row.get("id") or f"{pool.stem}-{line_no}"), "text": text})
    if not rows:
        raise DataError(f"{pool}: no unlabeled text left to suggest")
    texts = [r["text"] for r in rows]
    scores = classifier.score(texts)
    thresholds = np.array([classifier.thresholds[t] for t in classifier.topics])
    margins = np.abs(logit(scores) - logit(thresholds)[None, :])
    closest = margins.argmin(axis=1)
    margin = margins[np.arange(len(rows)), closest]

    candidates = np.argsort(margin, kind="stable")[: max(n, n * CANDIDATES_PER_PICK)]
    picks, clusters = _diverse_picks(classifier.embed([texts[i] for i in candidates]), margin[candidates], n)
    queue = []
    for rank in np.argsort(margin[candidates[picks]], kind="stable"):
        i = candidates[picks[rank]]
        topic = classifier.topics[closest[i]]
        queue.append(
            {
                **rows[i],
                "suggested_labels": ranked_labels(scores[i], classifier.topics, thresholds, classifier.multi_label),
                "scores": {t: round(float(s), 4) for t, s in zip(classifier.topics, scores[i], strict=True)},
                "why": {
                    "topic": topic,
                    "score": round(float(scores[i, closest[i]]), 4),
                    "threshold": float(thresholds[closest[i]]),
                    "margin": round(float(margin[i]), 4),
                    "cluster_size": int(clusters[rank]),
                },
            }
        )
    with atomic_text_file(output) as f:
        for row in queue:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return queue


def _diverse_picks(vectors: np.ndarray, margins: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the picks, the size of each pick's cluster): k-means into n groups, the most uncertain of
    each. With no more candidates than n, every candidate is a pick."""
    if len(vectors) <= n:
        return np.arange(len(vectors)), np.ones(len(vectors), dtype=int)
    from sklearn.cluster import KMeans

    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    groups = KMeans(n_clusters=n, n_init=3, random_state=0).fit_predict(unit)
    picks = [min(np.flatnonzero(groups == g), key=lambda i: margins[i]) for g in range(n)]
    sizes = [int((groups == g).sum()) for g in range(n)]
    return np.array(picks), np.array(sizes)
