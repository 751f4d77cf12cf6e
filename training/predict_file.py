"""Tag every row of a file of any size: JSONL, CSV or Parquet in, JSONL out, in input order.

    python -m training predict --input snippets.jsonl --output tagged.jsonl
    make predict-file INPUT=snippets.csv OUTPUT=tagged.jsonl

Rows stream through training.readers a chunk at a time, so memory stays flat whatever the file's size,
and a row that cannot be read is an error naming the file and line, as in training. Every input row
comes out, with all its columns, plus:
    id                 the row's own `id`, else "<file stem>-<row number>" (rows count from 1)
    predicted_labels   topics over their thresholds, highest score first
    predicted_scores   every topic's score, rounded to 6 decimals
A row without text (null, blank, or no `text` field) keeps its place with both fields null; a file in which
no row has a `text` field is an error.

Several processes (or machines) can share one file: `--num-shards N --shard-index i` takes the i-th of
N contiguous slices of the rows, so `cat out-0.jsonl out-1.jsonl ...` is the single-process output.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from training.artifacts import atomic_text_file
from training.errors import DataError

if TYPE_CHECKING:  # only annotations: the Ray engine's read workers import this module without torch
    from training.inference import TopicClassifier
from training.readers import check_readable, read_rows

OUTPUT_FIELDS = ("predicted_labels", "predicted_scores")
# Rows per model call: enough for full length-sorted batches, small enough to keep memory flat.
CHUNK_ROWS = 1024
# Digits kept in predicted_scores: more than anyone reads, and fewer than the last ones, which change with
# how rows are batched, the process and the CPU (the order of floating-point sums).
SCORE_DECIMALS = 6


def shard_bounds(total: int, num_shards: int, shard_index: int) -> tuple[int, int]:
    """[start, stop) of the shard_index-th of num_shards contiguous, near-equal slices of `total` rows."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"need num_shards >= 1 and 0 <= shard_index < num_shards, got {shard_index} of {num_shards}")
    return total * shard_index // num_shards, total * (shard_index + 1) // num_shards


def survey(path: Path) -> int:
    """Rows in the file, read once before tagging: an unreadable row, a file without any `text` field, or a
    row whose fields the output would overwrite is a DataError now, before anything is written."""
    total, has_text = 0, False
    for line_no, row in read_rows(path):
        total += 1
        has_text = has_text or "text" in row
        clashing = [c for c in OUTPUT_FIELDS if c in row]
        if clashing:
            raise DataError(f"{path}:{line_no}: already has a {clashing[0]!r} field, which the output would overwrite")
    if not total:
        raise DataError(f"{path}: no rows to tag (an empty file)")
    if not has_text:
        raise DataError(f"{path}: no row has a 'text' field")
    return total


def chunks(rows: Iterator, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last one shorter) from any iterator."""
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def tag_texts(classifier: TopicClassifier, texts: list, threshold=None) -> list[dict | None]:
    """{predicted_labels, predicted_scores} per text, None for a text that is null, not a string or blank: the
    output fields of predict-file and of the Ray engine (training.ray_engine)."""
    has_text = [isinstance(text, str) and bool(text.strip()) for text in texts]
    predictions = iter(classifier.predict([t for t, ok in zip(texts, has_text, strict=True) if ok], threshold))
    tagged = []
    for ok in has_text:
        p = next(predictions) if ok else None
        tagged.append(
            {
                "predicted_labels": p.labels,
                "predicted_scores": {t: round(s, SCORE_DECIMALS) for t, s in p.scores.items()},
            }
            if p
            else None
        )
    return tagged


def json_line(row: dict) -> str:
    """One output row as a JSON line: text as it is (not \\u-escaped), values JSON has no type for as str()."""
    return json.dumps(row, ensure_ascii=False, default=str) + "\n"


def predict_file(
    classifier: TopicClassifier,
    input_path: str | Path,
    output_path: str | Path,
    num_shards: int = 1,
    shard_index: int = 0,
    threshold: float | dict[str, float] | None = None,
) -> int:
    """Write this shard's rows with their predictions to `output_path` (atomically); returns the row count.
    A row that cannot be read, or lacks a 'text' field, is a DataError naming the file and line, and
    nothing is written."""
    input_path = check_readable(input_path)
    start, stop = shard_bounds(survey(input_path), num_shards, shard_index)
    progress = tqdm(total=stop - start, unit="rows", desc=f"{input_path.name} [{start}:{stop}]")
    rows = itertools.islice(read_rows(input_path), start, stop)
    with atomic_text_file(output_path) as out, progress:
        row_number = start
        for chunk in chunks(rows, CHUNK_ROWS):
            tagged = tag_texts(classifier, [row.get("text") for _, row in chunk], threshold)
            for (_, row), fields in zip(chunk, tagged, strict=True):
                row_number += 1
                row_id = row["id"] if row.get("id") not in (None, "") else f"{input_path.stem}-{row_number}"
                out.write(
                    json_line(
                        {
                            "id": row_id,
                            **{k: v for k, v in row.items() if k != "id"},
                            **(fields or dict.fromkeys(OUTPUT_FIELDS)),
                        }
                    )
                )
            progress.update(len(chunk))
    return stop - start
