"""Measure the shape of the labeled corpus: the numbers the dataset card (data/README.md) states.

    python scripts/corpus_stats.py                      # every data/snippets/*.jsonl
    python scripts/corpus_stats.py data/snippets/b1.jsonl --jaccard 0.6

Prints size, per-topic counts, multi-label and no-topic shares, length distribution, a topic
co-occurrence table and near-duplicate pairs (word-shingle Jaccard at or above --jaccard, across
all files given). Exits 1 when a line is malformed, a label is unknown or a near-duplicate exists,
so a corpus writer can use it as a check.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.errors import DataError  # noqa: E402
from training.readers import read_rows  # noqa: E402
from training.topics import load_topics  # noqa: E402

SHINGLE_SIZE = 3


def shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + SHINGLE_SIZE]) for i in range(max(1, len(words) - SHINGLE_SIZE + 1))}


def near_duplicates(texts: list[str], threshold: float) -> list[tuple[int, int, float]]:
    """All pairs with shingle Jaccard >= threshold (inverted index keeps this fast on a few thousand)."""
    sets = [shingles(t) for t in texts]
    index: dict[tuple[str, ...], list[int]] = {}
    for i, s in enumerate(sets):
        for sh in s:
            index.setdefault(sh, []).append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in index.values():
        if len(ids) < 50:  # very common shingles ("the united states") say nothing about copying
            for a, b in itertools.combinations(ids, 2):
                shared[(a, b)] += 1
    pairs = []
    for (a, b), n in shared.items():
        jac = n / len(sets[a] | sets[b])
        if jac >= threshold:
            pairs.append((a, b, jac))
    return sorted(pairs, key=lambda p: -p[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="JSONL files (default: data/snippets/*.jsonl)")
    parser.add_argument("--topics", default=str(REPO / "data/topics.yaml"))
    parser.add_argument("--jaccard", type=float, default=0.5, help="near-duplicate threshold")
    args = parser.parse_args()

    files = args.files or sorted(glob.glob(str(REPO / "data/snippets/*.jsonl")))
    topics = [t.name for t in load_topics(args.topics)]
    rows, problems = [], []
    for path in files:
        try:
            for line_no, row in read_rows(path):
                unknown = [label for label in row.get("labels", []) if label not in topics]
                if unknown or not isinstance(row.get("text"), str) or not row["text"].strip():
                    problems.append(f"{path}:{line_no}: bad text or unknown labels {unknown}")
                    continue
                row["_where"] = f"{Path(path).name}:{line_no}"
                rows.append(row)
        except DataError as e:  # the reader stops at a file's first unreadable line
            problems.append(str(e))

    n = len(rows)
    if not n:
        print("no rows")
        return 1
    per_topic = Counter(label for r in rows for label in r["labels"])
    n_labels = Counter(len(r["labels"]) for r in rows)
    lengths = [len(r["text"].split()) for r in rows]
    sentences = [len(re.findall(r"[.!?](?:\s|$)", r["text"])) or 1 for r in rows]
    print(f"snippets: {n}  files: {len(files)}")
    print("per topic:", ", ".join(f"{t}={per_topic[t]}" for t in topics))
    three_plus = sum(v for k, v in n_labels.items() if k >= 3)
    print(
        f"no topic: {n_labels[0]} ({n_labels[0] / n:.1%})  one: {n_labels[1]} ({n_labels[1] / n:.1%})  "
        f"two: {n_labels[2]} ({n_labels[2] / n:.1%})  three+: {three_plus} ({three_plus / n:.1%})  "
        f"two+: {n - n_labels[0] - n_labels[1]} ({(n - n_labels[0] - n_labels[1]) / n:.1%})  "
        f"mean topics: {sum(len(r['labels']) for r in rows) / n:.3f}"
    )
    alone = Counter(r["labels"][0] for r in rows if len(r["labels"]) == 1)
    shares = (f"{t}={alone[t]}/{per_topic[t]} ({alone[t] / max(per_topic[t], 1):.0%})" for t in topics)
    print("stands alone:", ", ".join(shares))
    qs = statistics.quantiles(lengths, n=10)
    print(
        f"words: min {min(lengths)} p10 {qs[0]:.0f} median {statistics.median(lengths):.0f} "
        f"mean {statistics.mean(lengths):.1f} p90 {qs[-1]:.0f} max {max(lengths)}; "
        f"outside 8-90 words: {sum(not 8 <= w <= 90 for w in lengths)}; "
        f"over 3 sentences: {sum(s > 3 for s in sentences)}"
    )
    buckets = Counter(min(w // 10, 9) for w in lengths)
    print("length histogram:", "  ".join(f"{b * 10}-{b * 10 + 9}:{buckets[b]}" for b in range(10)))
    print("\nco-occurrence (row topic with column topic):")
    short = [t[:6] for t in topics]
    print(" " * 16 + " ".join(f"{s:>6}" for s in short))
    for t in topics:
        cells = [sum(t in r["labels"] and u in r["labels"] for r in rows) for u in topics]
        print(f"{t:>16}" + " ".join(f"{c:>6}" for c in cells))

    dups = near_duplicates([r["text"] for r in rows], args.jaccard)
    print(f"\nnear-duplicate pairs (3-word-shingle Jaccard >= {args.jaccard}): {len(dups)}")
    for a, b, jac in dups[:30]:
        print(f"  {jac:.2f} {rows[a]['_where']} ~ {rows[b]['_where']}")
    for p in problems:
        print(p)
    return 1 if problems or dups else 0


if __name__ == "__main__":
    sys.exit(main())
