"""Labeled files -> validated examples -> a deterministic train/validation/test `DatasetDict`.

Accepted files, one snippet per row:
- JSONL: `{"text": "...", "labels": ["sanctions", "energy"]}` (multi-label; `[]` = no topic), or
  `{"text": "...", "label": "Sports"}` (single-label). An optional `id` is kept.
- CSV with a header: `text,labels` where labels are `;`-separated, or `text,label`.
- Parquet with the same columns.

Every problem is reported with the file and line (row) it comes from, before anything is trained.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from training.errors import DataError, require
from training.readers import read_rows
from training.topics import Topic, load_topics

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


@dataclass
class DataArguments:
    train_files: list[str] = field(
        default_factory=lambda: ["data/snippets/*.jsonl"],
        metadata={"help": "labeled JSONL, CSV or Parquet files; glob patterns allowed"},
    )
    topics_file: str | None = field(
        default="data/topics.yaml", metadata={"help": "the topic list with descriptions and boundary rules"}
    )
    validation_fraction: float = field(default=0.15, metadata={"help": "share of the hash split for validation"})
    test_fraction: float = field(default=0.15, metadata={"help": "share of the hash split held out for testing"})
    split_seed: int = field(
        default=13, metadata={"help": "seed of the hash split; the split is stable as rows are added"}
    )
    eval_files: list[str] = field(
        default_factory=list,
        metadata={
            "help": "blind evaluation files (globs), never trained on and scored after training; a pattern "
            "that matches nothing is skipped"
        },
    )

    def __post_init__(self):
        require(bool(self.train_files), "train_files must name at least one file")
        for key in ("validation_fraction", "test_fraction"):
            require(0 <= getattr(self, key) < 1, f"{key} must be in [0, 1), got {getattr(self, key)}")
        require(
            self.validation_fraction + self.test_fraction < 1,
            "validation_fraction + test_fraction must leave rows for training",
        )


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[str, ...]  # multi-label: any number; single-label: exactly one
    id: str
    where: str  # "file:line", for error messages


@dataclass
class TopicDataset:
    splits: datasets.DatasetDict  # columns: id, text, labels (multi-hot floats, or a class index)
    topics: list[Topic]
    multi_label: bool

    @property
    def topic_names(self) -> list[str]:
        return [t.name for t in self.topics]


def expand_files(patterns: list[str]) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern))
            if not matches:
                raise DataError(f"no labeled data file matches {pattern!r}")
            files.extend(matches)
        else:
            if not Path(pattern).is_file():
                raise DataError(f"labeled data file not found: {pattern}")
            files.append(Path(pattern))
    return files


def _raw_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, row dict) for every row of a supported file; CSV labels are `;`-separated."""
    for line_no, row in read_rows(path):
        if path.suffix.lower() == ".csv":
            if "text" not in row:
                raise DataError(f"{path}:1: CSV header must have a 'text' column, got {list(row)}")
            if isinstance(row.get("labels"), str):
                row["labels"] = [s.strip() for s in row["labels"].split(";") if s.strip()]
        yield line_no, row


def parse_row(row: dict, where: str) -> tuple[str, tuple[str, ...], bool]:
    """Validate one row -> (text, labels, is_multi_label)."""
    text = row.get("text")
    if text is None:
        raise DataError(f"{where}: missing field 'text'")
    if not isinstance(text, str):
        raise DataError(f"{where}: 'text' must be a string, got {type(text).__name__} {text!r}")
    if not text.strip():
        raise DataError(f"{where}: empty text")
    if "labels" in row and row["labels"] is not None:
        labels = row["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise DataError(f"{where}: 'labels' must be a list of topic names, got {labels!r}")
        return text.strip(), tuple(dict.fromkeys(x.strip() for x in labels)), True
    if "label" in row and row["label"] not in (None, ""):
        return text.strip(), (str(row["label"]).strip(),), False
    raise DataError(f"{where}: missing field 'labels' (a list of topics, [] for none) or 'label'")


def normalized_key(text: str) -> str:
    """Texts that differ only in case, punctuation, digits or spacing share a key (and so a split)."""
    return " ".join(re.findall(r"[^\W\d_]+", text.lower()))


def read_examples(files: list[Path]) -> tuple[list[Example], bool]:
    """All rows of all files, validated; exact repeats dropped, conflicting repeats an error."""
    examples: list[Example] = []
    by_key: dict[str, Example] = {}
    kinds: dict[bool, str] = {}
    for path in files:
        rows_in_file = 0
        for line_no, row in _raw_rows(path):
            rows_in_file += 1
            where = f"{path}:{line_no}"
            text, labels, multi = parse_row(row, where)
            kinds.setdefault(multi, where)
            if len(kinds) > 1:
                raise DataError(
                    f"{where}: mixes single-label ('label') and multi-label ('labels') rows "
                    f"(first of the other kind at {kinds[not multi]})"
                )
            example = Example(text, labels, str(row.get("id") or f"{path.stem}-{line_no}"), where)
            key = normalized_key(text)
            seen = by_key.get(key)
            if seen is not None:
                if set(seen.labels) != set(labels):
                    raise DataError(
                        f"{where}: same text as {seen.where} but different labels "
                        f"({sorted(labels)} vs {sorted(seen.labels)}); keep one"
                    )
                continue
            by_key[key] = example
            examples.append(example)
        if not rows_in_file:
            logger.warning("%s: no rows (an empty file); skipped", path)
    if not examples:
        raise DataError(f"no labeled rows in {', '.join(map(str, files))}")
    return examples, kinds.popitem()[0]


def split_of(text: str, seed: int, validation_fraction: float, test_fraction: float) -> str:
    """Hash-based split: stable when rows are added, and near-identical texts always land together."""
    digest = hashlib.sha256(f"{seed}:{normalized_key(text)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + validation_fraction:
        return "validation"
    return "train"


def resolve_topics(examples: list[Example], topics_file: str | None, multi_label: bool) -> list[Topic]:
    if topics_file:
        topics = load_topics(topics_file)
    elif multi_label:
        raise DataError("multi-label data needs a topics_file listing the topics")
    else:  # single-label without a list: the classes are whatever the data names, in sorted order
        topics = [Topic(name) for name in sorted({e.labels[0] for e in examples})]
    for e in examples:
        check_topics(e.labels, e.where, [t.name for t in topics])
    return topics


def check_topics(labels, where: str, topic_names: list[str]) -> None:
    """DataError naming the first label that is not one of `topic_names`."""
    unknown = [label for label in labels if label not in topic_names]
    if unknown:
        raise DataError(f"{where}: unknown topic {unknown[0]!r}; valid topics: {', '.join(topic_names)}")


def to_dataset(examples: list[Example], topic_names: list[str], multi_label: bool) -> datasets.Dataset:
    index = {name: i for i, name in enumerate(topic_names)}
    if multi_label:
        labels = [[float(name in e.labels) for name in topic_names] for e in examples]
        label_feature = datasets.Sequence(datasets.Value("float32"), length=len(topic_names))
    else:
        labels = [index[e.labels[0]] for e in examples]
        label_feature = datasets.ClassLabel(names=topic_names)
    features = datasets.Features(
        {"id": datasets.Value("string"), "text": datasets.Value("string"), "labels": label_feature}
    )
    return datasets.Dataset.from_dict(
        {"id": [e.id for e in examples], "text": [e.text for e in examples], "labels": labels}, features=features
    )


def build_dataset(args: DataArguments) -> TopicDataset:
    """Files -> validated, split `DatasetDict`. Raises DataError before anything is written."""
    examples, multi_label = read_examples(expand_files(args.train_files))
    topics = resolve_topics(examples, args.topics_file, multi_label)
    names = [t.name for t in topics]
    by_split: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for e in examples:
        by_split[split_of(e.text, args.split_seed, args.validation_fraction, args.test_fraction)].append(e)
    trained_on = {label for e in by_split["train"] for label in e.labels}
    for name in names:
        if name not in trained_on:
            total = sum(name in e.labels for e in examples)
            source = args.topics_file or "the data"
            raise DataError(
                f"topic {name!r} has no example in the training split ({total} in all data); "
                f"add labeled snippets for it or remove it from {source}"
            )
    splits = datasets.DatasetDict({s: to_dataset(by_split[s], names, multi_label) for s in SPLITS})
    return TopicDataset(splits=splits, topics=topics, multi_label=multi_label)


def load_labeled_file(path: str, topic_names: list[str], multi_label: bool) -> datasets.Dataset:
    """One labeled file (e.g. a user's own test set) as a Dataset in a trained model's topic order."""
    return to_dataset(_labeled_examples(expand_files([path]), topic_names, multi_label), topic_names, multi_label)


def _labeled_examples(files: list[Path], topic_names: list[str], multi_label: bool) -> list[Example]:
    examples, file_multi = read_examples(files)
    if file_multi != multi_label:
        kind = "multi-label ('labels')" if multi_label else "single-label ('label')"
        raise DataError(f"{', '.join(map(str, files))}: the model is {kind}; the file is not")
    for e in examples:
        check_topics(e.labels, e.where, topic_names)
    return examples


def load_blind_set(patterns: list[str], data: TopicDataset) -> datasets.Dataset | None:
    """The blind evaluation files (`eval_files`) as one Dataset, or None when no file matches; its "file"
    column names the file each row came from, so each file can also be scored on its own.

    They are scored after training and never trained on, so a text that is also in the labeled training
    files (train, validation or test split) is an error: it would make the blind estimate a memory test."""
    files = sorted({Path(p) for pattern in patterns for p in glob.glob(pattern)})
    if not files:
        return None
    examples = _labeled_examples(files, data.topic_names, data.multi_label)
    trained = {normalized_key(t): split for split, ds in data.splits.items() for t in ds["text"]}
    for e in examples:
        split = trained.get(normalized_key(e.text))
        if split is not None:
            raise DataError(
                f"{e.where}: this text is also in the training files ({split} split); a blind set must not be"
            )
    files_of_rows = [e.where.rsplit(":", 1)[0] for e in examples]  # where is "file:line"
    return to_dataset(examples, data.topic_names, data.multi_label).add_column("file", files_of_rows)
