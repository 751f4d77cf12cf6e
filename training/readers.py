"""Rows of a JSONL, CSV or Parquet file, streamed, each with the line (or row) it came from.

The one reader behind training data (training.data), whole-file prediction (training.predict_file), batch
tagging on Ray (training.ray_engine, which hands parse_text_rows the files' streams) and the corpus statistics
script. What it accepts and how it fails, the same everywhere:
- UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one); a byte that is not UTF-8
  is an error naming the file and line;
- JSONL: one JSON object per line, blank lines skipped; a line that is not a JSON object is an error
  naming the file and line;
- CSV: a header row, then one row per record; cells stay the exact strings in the file;
- Parquet: rows in file order, read a batch at a time.
Line numbers count from 1, as editors show them.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from training.errors import DataError

SUPPORTED_SUFFIXES = (".jsonl", ".csv", ".parquet")
# Parquet rows per read: memory stays flat whatever the file's size.
PARQUET_BATCH_ROWS = 1024


def check_readable(path: str | Path) -> Path:
    """`path` as a Path, or DataError when it is missing or of a type no reader handles."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    return path


def read_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every row of the file; DataError names the file and line of a bad one."""
    path = check_readable(path)
    if path.suffix.lower() == ".parquet":
        yield from _parquet_rows(path)
        return
    with path.open("rb") as f:
        yield from parse_text_rows(f, path)


def parse_text_rows(raw_lines: Iterable[bytes], source: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every row of a JSONL or CSV file given as its lines of bytes (an open binary
    file, local or from any other filesystem); `source` is the file's name, whose suffix gives the format and
    which DataError names, with the line, for a bad row."""
    lines = _text_lines(raw_lines, source)
    yield from _jsonl_rows(lines, source) if str(source).lower().endswith(".jsonl") else _csv_rows(lines, source)


def _text_lines(raw_lines: Iterable[bytes], source: str | Path) -> Iterator[str]:
    """The file's lines as text, a leading byte-order mark dropped, undecodable bytes named by line."""
    for line_no, raw in enumerate(raw_lines, 1):
        if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{source}:{line_no}: not UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                "save the file as UTF-8"
            ) from e


def _jsonl_rows(lines: Iterable[str], source: str | Path) -> Iterator[tuple[int, dict]]:
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{source}:{line_no}: not valid JSON ({e.msg} at column {e.colno})") from e
        except RecursionError as e:
            raise DataError(f"{source}:{line_no}: JSON nested too deeply") from e
        if not isinstance(row, dict):
            raise DataError(f"{source}:{line_no}: expected a JSON object, got {type(row).__name__}")
        yield line_no, row


def _csv_rows(lines: Iterable[str], source: str | Path) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if not header:
            raise DataError(f"{source}:1: empty CSV: the first line must be a header naming the columns")
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise DataError(
                    f"{source}:{reader.line_num}: {len(cells)} cells for the header's {len(header)} columns"
                )
            yield reader.line_num, dict(zip(header, cells, strict=True))
    except csv.Error as e:
        raise DataError(f"{source}:{reader.line_num}: not valid CSV ({e})") from e


def _parquet_rows(path: Path) -> Iterable[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS)
        row_no = 0
        for batch in batches:
            for row in batch.to_pylist():
                row_no += 1
                yield row_no, row
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file ({e})") from e
