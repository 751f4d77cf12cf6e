"""Tag every row of a file of any size: JSONL, CSV or Parquet in, JSONL out, in input order.

    python -m training predict --input snippets.jsonl --output tagged.jsonl
    make predict-file INPUT=snippets.csv OUTPUT=tagged.jsonl

Rows stream through `datasets` (streaming mode) a chunk at a time, so memory stays flat whatever the
file's size. Every input row comes out, with all its columns, plus:
    id                 the row's own `id`, else "<file stem>-<row number>" (rows count from 1)
    predicted_labels   topics over their thresholds, highest score first
    predicted_scores   every topic's score, rounded to 6 decimals
A row without text keeps its place with both fields null.

Several processes (or machines) can share one file: `--num-shards N --shard-index i` takes the i-th of
N contiguous slices of the rows, so `cat out-0.jsonl out-1.jsonl ...` is the single-process output.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from training.artifacts import atomic_text_file
from training.data import SUPPORTED_SUFFIXES
from training.errors import DataError
from training.inference import TopicClassifier

OUTPUT_FIELDS = ("predicted_labels", "predicted_scores")
# Rows per model call: enough for full length-sorted batches, small enough to keep memory flat.
CHUNK_ROWS = 1024
# Digits kept in predicted_scores: more than anyone reads, and fewer than the last ones, which change with
# how rows are batched, the process and the CPU (the order of floating-point sums).
SCORE_DECIMALS = 6
_BUILDERS = {".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def stream_rows(path: str | Path) -> datasets.IterableDataset:
    """The file's rows as a streaming dataset; CSV cells stay the exact strings in the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _BUILDERS:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"input file not found: {path}")
    options = {}
    if suffix == ".csv":
        # Left to type inference, an id "007" would come back as 7 and an empty cell as NaN.
        with path.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
        options = {
            "features": datasets.Features({name: datasets.Value("string") for name in header}),
            "keep_default_na": False,
        }
    return datasets.load_dataset(
        _BUILDERS[suffix], data_files=str(path), split="train", streaming=True, **options
    )


def count_rows(rows: datasets.IterableDataset) -> int:
    """One parsing pass; next to the model it costs nothing, and it makes contiguous shards possible."""
    return sum(len(next(iter(batch.values()))) for batch in rows.iter(batch_size=CHUNK_ROWS))


def shard_bounds(total: int, num_shards: int, shard_index: int) -> tuple[int, int]:
    """[start, stop) of the shard_index-th of num_shards contiguous, near-equal slices of `total` rows."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(
            f"need num_shards >= 1 and 0 <= shard_index < num_shards, got {shard_index} of {num_shards}"
        )
    return total * shard_index // num_shards, total * (shard_index + 1) // num_shards


def _check_columns(path: Path, columns: list[str]) -> None:
    if "text" not in columns:
        raise DataError(f"{path}: no 'text' column (columns: {', '.join(columns)})")
    clashing = [c for c in OUTPUT_FIELDS if c in columns]
    if clashing:
        raise DataError(f"{path}: already has a {clashing[0]!r} column, which the output would overwrite")


def predict_file(
    classifier: TopicClassifier,
    input_path: str | Path,
    output_path: str | Path,
    num_shards: int = 1,
    shard_index: int = 0,
    threshold: float | dict[str, float] | None = None,
) -> int:
    """Write this shard's rows with their predictions to `output_path` (atomically); returns the row count."""
    input_path = Path(input_path)
    rows = stream_rows(input_path)
    start, stop = shard_bounds(count_rows(rows), num_shards, shard_index)
    progress = tqdm(total=stop - start, unit="rows", desc=f"{input_path.name} [{start}:{stop}]")
    with atomic_text_file(output_path) as out, progress:
        row_number = start
        for batch in rows.skip(start).take(stop - start).iter(batch_size=CHUNK_ROWS):
            columns = list(batch)
            _check_columns(input_path, columns)
            chunk = [dict(zip(columns, values, strict=True)) for values in zip(*batch.values(), strict=True)]
            has_text = [isinstance(row["text"], str) and bool(row["text"].strip()) for row in chunk]
            texts = [row["text"] for row, ok in zip(chunk, has_text, strict=True) if ok]
            predictions = iter(classifier.predict(texts, threshold))
            for row, ok in zip(chunk, has_text, strict=True):
                row_number += 1
                p = next(predictions) if ok else None
                tagged = {
                    "id": row["id"] if row.get("id") not in (None, "") else f"{input_path.stem}-{row_number}",
                    **{k: v for k, v in row.items() if k != "id"},
                    "predicted_labels": p.labels if p else None,
                    "predicted_scores": {t: round(s, SCORE_DECIMALS) for t, s in p.scores.items()} if p else None,
                }
                out.write(json.dumps(tagged, ensure_ascii=False, default=str) + "\n")
            progress.update(len(chunk))
    return stop - start
