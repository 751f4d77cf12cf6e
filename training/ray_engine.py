"""Tag files of any size on a Ray cluster: Ray Data reads them, TopicTagger actors score, shards are written.

    python -m training predict --engine ray --input 'snippets/*.jsonl' --output runs/tagged --concurrency 4

    from training.ray_engine import TopicTagger, predict_with_ray
    predict_with_ray("runs/default/model", "s3://bucket/snippets/", "runs/tagged", output_format="parquet")
    ds.map_batches(TopicTagger, fn_constructor_kwargs={"model": "runs/default/model"},
                   compute=ray.data.ActorPoolStrategy(size=4), batch_format="pyarrow")  # in your own pipeline

The rows that come out are predict-file's (training.predict_file): every input column, plus predicted_labels
(topics over their thresholds, highest score first) and predicted_scores (every topic's score, rounded to
SCORE_DECIMALS), both null for a row without text. What differs, as rows are spread over processes as tables:
- the output is a dir of shards (one file per write task) in no particular order: join on your own `id`;
- a row without an `id` gets none (no process knows a row's number in the whole input);
- a field that a JSONL row lacks comes back null, an int in a column of floats as a float, and a field that
  no column type holds (a number in one row, a string in the next) is a DataError.

Where it runs: on the cluster at $RAY_ADDRESS when it is set, else on a local Ray started for the call and
stopped after it. On several machines, the model dir and the output dir must be at the same path on every node
(a shared filesystem); the input may also be any URI pyarrow has a filesystem for (s3://, gs://, hdfs://).

Ray is an optional extra (pip install 'geotopics[ray]'): importing the package never imports this module.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

try:
    import ray
except ImportError as e:
    raise ImportError("tagging on Ray needs the ray extra: pip install 'geotopics[ray]'") from e
from ray.data.block import BlockAccessor
from ray.data.datasource import BlockBasedFileDatasink, FileBasedDatasource, WriteResult

from training.artifacts import atomic_dir
from training.errors import DataError
from training.predict_file import CHUNK_ROWS, OUTPUT_FIELDS, chunks, json_line, tag_texts
from training.readers import SUPPORTED_SUFFIXES, parse_text_rows

OUTPUT_FORMATS = ("jsonl", "parquet")
GLOB_CHARACTERS = ("*", "?", "[")


class TopicTagger:
    """Tags batches of rows with a trained model: a callable class for `Dataset.map_batches`, so that each Ray
    actor loads the model once and keeps it for every batch it is given.

        ds.map_batches(TopicTagger, fn_constructor_kwargs={"model": "runs/default/model"},
                       compute=ray.data.ActorPoolStrategy(size=4), batch_size=1024, batch_format="pyarrow")

    Args:
        model (str | Path): a trained model dir, at the same path on every node.
        threshold (float | dict[str, float] | None, default None): one threshold for every topic, or
            {topic: threshold} for some; None keeps the model's tuned thresholds.
        backend (str, default "torch"): "openvino" runs the model dir's OpenVINO export instead.
        precision (str, default "auto"): "auto", "fp32", "bf16" or "int8", as in TopicClassifier.from_pretrained.
        text_column (str, default "text"): the column holding the texts.

    A batch (a pyarrow Table or a pandas DataFrame: batch_format "pyarrow" or "pandas") comes back as the same
    type with all its columns and two more: predicted_labels (list of topics) and predicted_scores (every topic's
    score), both null for a row whose text is null, not a string or blank, as predict-file does; a batch without
    the text column gets nulls throughout. A batch that already has either column is a DataError.
    """

    def __init__(
        self,
        model: str | Path,
        threshold: float | dict[str, float] | None = None,
        backend: str = "torch",
        precision: str = "auto",
        text_column: str = "text",
    ):
        from training.inference import TopicClassifier  # in the actor only: read workers never load torch

        self.classifier = TopicClassifier.from_pretrained(model, backend=backend, precision=precision)
        self.threshold = threshold
        self.text_column = text_column
        # One struct field per topic, in the model's order: Parquet gets a column per topic, and a JSON line the
        # same {topic: score} object as predict-file's.
        self.scores_type = pa.struct([(topic, pa.float64()) for topic in self.classifier.topics])

    def __call__(self, batch: pa.Table | pd.DataFrame) -> pa.Table | pd.DataFrame:
        if isinstance(batch, pa.Table):
            columns = batch.column_names
            texts = batch[self.text_column].to_pylist() if self.text_column in columns else [None] * batch.num_rows
        elif isinstance(batch, pd.DataFrame):
            columns = list(batch.columns)
            texts = batch[self.text_column].tolist() if self.text_column in columns else [None] * len(batch)
        else:
            raise TypeError(f"TopicTagger takes batch_format='pyarrow' or 'pandas' batches, not {type(batch).__name__}")
        clashing = [name for name in OUTPUT_FIELDS if name in columns]
        if clashing:
            raise DataError(f"the rows already have a {clashing[0]!r} column, which the output would overwrite")
        labels, scores = self._predict(texts)
        if isinstance(batch, pd.DataFrame):
            # Series of Python objects: a plain list of lists would be read by pandas as a 2-D array.
            return batch.assign(
                predicted_labels=pd.Series(labels, index=batch.index, dtype=object),
                predicted_scores=pd.Series(scores, index=batch.index, dtype=object),
            )
        # Explicit types, so that a batch of texts that are all null still has the columns every other batch has.
        return batch.append_column("predicted_labels", pa.array(labels, pa.list_(pa.string()))).append_column(
            "predicted_scores", pa.array(scores, self.scores_type)
        )

    def _predict(self, texts: list) -> tuple[list[list[str] | None], list[dict[str, float] | None]]:
        """(labels, rounded scores) per text, None for a text predict-file would not tag."""
        tagged = tag_texts(self.classifier, texts, self.threshold)
        return (
            [t["predicted_labels"] if t else None for t in tagged],
            [t["predicted_scores"] if t else None for t in tagged],
        )


class _TextRowsDatasource(FileBasedDatasource):
    """JSONL and CSV files read by training.readers' parsers, as predict-file reads them: JSON values as they are,
    CSV cells as the exact strings, and a bad row a DataError naming the file and line. (Ray's read_json(...,
    lines=True) parses with pandas, which turns the JSON string "007" into the number 7 and date strings into
    timestamps; its read_csv infers column types unless given every column's name, and reports a malformed row
    without its line.)"""

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[pa.Table]:
        # Blocks of CHUNK_ROWS rows: memory stays flat whatever the file's size.
        for chunk in chunks(parse_text_rows(io.BufferedReader(f), path), CHUNK_ROWS):
            yield _rows_to_table(chunk, path)


def _rows_to_table(chunk: list[tuple[int, dict]], path: str) -> pa.Table:
    """One column per field, in order of first appearance, null where a row lacks the field."""
    columns = {}
    for name in dict.fromkeys(name for _, row in chunk for name in row):
        try:
            columns[name] = pa.array([row.get(name) for _, row in chunk])
        except (pa.ArrowException, OverflowError) as e:  # mixed types ('x' in an int field), ints over 64 bits
            lines = f"{chunk[0][0]}-{chunk[-1][0]}"
            raise DataError(f"{path}:{lines}: field {name!r} does not fit one table column ({e})") from e
    return pa.table(columns)


class _ShardDatasink(BlockBasedFileDatasink):
    """Each write task's rows as one file of the output dir, JSONL or Parquet; counts the rows written."""

    def __init__(self, path: str, output_format: str):
        super().__init__(path, file_format=output_format)
        self.rows_written = 0

    def write_block_to_file(self, block: BlockAccessor, file: pa.NativeFile) -> None:
        table = block.to_arrow()
        if self.file_format == "parquet":
            pq.write_table(table, file)
        else:
            # predict-file's lines: non-ASCII text as it is, values JSON has no type for (dates) as their str().
            file.write("".join(json_line(row) for row in table.to_pylist()).encode("utf-8"))

    def on_write_complete(self, write_result: WriteResult) -> None:
        super().on_write_complete(write_result)
        self.rows_written = write_result.num_rows


def predict_with_ray(
    model: str | Path | None,
    input: str | Path,
    output: str | Path,
    concurrency: int | None = None,
    threshold: float | dict[str, float] | None = None,
    backend: str = "torch",
    precision: str = "auto",
    output_format: str = "jsonl",
) -> int:
    """Tag every row of `input` on Ray and write them, with their predictions, as shards into the dir `output`;
    returns the number of rows written.

    Args:
        model (str | Path | None): a trained model dir (None: runs/default/model or $TOPICS_MODEL).
        input (str | Path): a JSONL, CSV or Parquet file, a dir of them, or a glob (`*`, `?`, `[...]` within one
            path component); a local path or any URI pyarrow has a filesystem for. Every file has one format.
        output (str | Path): a local dir (on several machines, a path every node shares) that does not exist yet
            or is empty. The shards are written to a temporary sibling dir renamed into place when complete, so a
            failed run leaves nothing behind.
        concurrency (int | None, default None): model actors; None lets Ray grow the pool to the free CPUs.
        threshold (float | dict[str, float] | None, default None): as for TopicTagger.
        backend (str, default "torch"), precision (str, default "auto"): as for TopicTagger.
        output_format (str, default "jsonl"): "jsonl" or "parquet".

    Raises DataError, naming the file (and line where there is one) or the pattern, for input that cannot be
    tagged: missing, unreadable, malformed, of mixed or unsupported file types, without a `text` column, or
    already holding an output column; and for an `output` that exists and is not an empty dir.
    ModelNotFoundError when `model` holds no trained model.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, not {output_format!r}")
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise DataError(f"{output} already exists: choose a new output dir (or empty it)")
    # Resolved here: actors may start in another working dir, and a wrong path fails before any cluster starts.
    from training.inference import find_model_dir

    model_dir = str(find_model_dir(model).resolve())
    filesystem, files, suffix = _input_files(str(input))
    with _ray_session():
        try:
            dataset = _read(filesystem, files, suffix, str(input))
            # A DataError raised by TopicTagger reaches the caller as itself, not wrapped as a UserCodeException.
            dataset.context.raise_original_map_exception = True
            _check_columns(dataset, str(input))
            tagged = dataset.map_batches(
                TopicTagger,
                fn_constructor_kwargs={
                    "model": model_dir,
                    "threshold": threshold,
                    "backend": backend,
                    "precision": precision,
                },
                compute=None if concurrency is None else ray.data.ActorPoolStrategy(size=concurrency),
                batch_size=CHUNK_ROWS,
                batch_format="pyarrow",
                **({} if concurrency is None else {"num_cpus": _actor_cpus(concurrency)}),
            )
            with atomic_dir(output) as tmp:
                sink = _ShardDatasink(str(tmp.resolve()), output_format)  # write tasks may run in another dir
                tagged.write_datasink(sink)
        except ray.exceptions.RayTaskError as e:
            # The read or tag task's own message names the file and line; Ray's traceback around it does not help.
            if isinstance(e.cause, DataError):
                raise e.cause from None
            raise
    return sink.rows_written


def _actor_cpus(concurrency: int) -> float:
    """CPU slots per model actor such that `concurrency` actors leave one slot of the cluster free. Ray starts the
    actors before the read and write tasks; actors holding every slot leave none for them, and the dataset hangs
    (ray-project/ray#44687: 2 actors on 2 CPUs did). An actor's torch threads follow its slots (at least 1)."""
    cpus = ray.cluster_resources().get("CPU", 1.0)
    return min(1.0, max(cpus - 1.0, 0.0) / concurrency)


@contextlib.contextmanager
def _ray_session() -> Iterator[None]:
    """Ray for one call: the caller's session if it has one (left running), else the cluster at $RAY_ADDRESS, else
    a local Ray. What the call starts it ends: ray.shutdown() stops a local Ray and only disconnects from a
    cluster."""
    if ray.is_initialized():
        yield
        return
    # "local", not None: with no address Ray would also join any cluster `ray start` left running on this machine.
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local")
    try:
        yield
    finally:
        ray.shutdown()


def _input_files(input: str) -> tuple[pafs.FileSystem, list[str], str]:
    """(filesystem, files, their suffix) for a file, a dir or a glob, local or at any URI pyarrow reads."""
    filesystem, path = pafs.FileSystem.from_uri(input if "://" in input else os.path.abspath(input))
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        # A dir that Spark or Ray wrote also holds _SUCCESS, .crc and such: read the data files, skip the rest.
        listing = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
        files = [i.path for i in listing if _is_data_file(i) and _suffix(i.path) in SUPPORTED_SUFFIXES]
    elif info.type == pafs.FileType.File:
        files = [path]
    elif any(c in path for c in GLOB_CHARACTERS):
        files = _glob(filesystem, path)
    else:
        raise DataError(f"file not found: {input}")
    suffixes = sorted({_suffix(f) for f in files})
    if not suffixes:
        raise DataError(f"{input}: no {', '.join(SUPPORTED_SUFFIXES)} file there")
    if len(suffixes) > 1:
        raise DataError(f"{input}: holds {' and '.join(suffixes)} files; tag one format at a time")
    if suffixes[0] not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"{files[0]}: unsupported file type {suffixes[0]!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    return filesystem, sorted(files), suffixes[0]


def _glob(filesystem: pafs.FileSystem, pattern: str) -> list[str]:
    """Files matching `pattern`, whose wildcards match within one path component, as a shell's do."""
    parts = pattern.split("/")
    first_wild = next(i for i, part in enumerate(parts) if any(c in part for c in GLOB_CHARACTERS))
    base = "/".join(parts[:first_wild]) or "/"
    selector = pafs.FileSelector(base, allow_not_found=True, recursive=first_wild < len(parts) - 1)
    return [
        i.path
        for i in filesystem.get_file_info(selector)
        if _is_data_file(i)
        and len(i.path.split("/")) == len(parts)
        and all(fnmatch.fnmatchcase(name, part) for name, part in zip(i.path.split("/"), parts, strict=True))
    ]


def _is_data_file(info: pafs.FileInfo) -> bool:
    # Names starting with "." or "_" are temporaries and markers (ours, Spark's, Ray's), which Ray skips too.
    return info.is_file and not info.base_name.startswith((".", "_"))


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def _read(filesystem: pafs.FileSystem, files: list[str], suffix: str, input: str) -> ray.data.Dataset:
    if suffix != ".parquet":
        return ray.data.read_datasource(_TextRowsDatasource(files, filesystem=filesystem))
    try:
        return ray.data.read_parquet(files, filesystem=filesystem)
    except (pa.ArrowInvalid, OSError) as e:
        # Ray reads every footer here and its error does not say whose; a second look finds the file.
        raise DataError(f"{_unreadable_parquet(filesystem, files) or input}: not a readable Parquet file ({e})") from e


def _unreadable_parquet(filesystem: pafs.FileSystem, files: list[str]) -> str | None:
    for path in files:
        try:
            pq.read_metadata(path, filesystem=filesystem)
        except (pa.ArrowInvalid, OSError):
            return path
    return None


def _check_columns(dataset: ray.data.Dataset, input: str) -> None:
    """A DataError, before any model loads, for input without rows or without a text column."""
    schema = dataset.schema()  # from the first block only: Ray reads no more for it
    if schema is None:
        raise DataError(f"{input}: no rows to tag")
    if "text" not in schema.names:
        raise DataError(f"{input}: no 'text' column (columns: {', '.join(schema.names)})")
