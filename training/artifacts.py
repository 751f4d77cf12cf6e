"""The saved model dir: what is in it, and writing it so a crash never leaves half of one.

model/
  config.json, model.safetensors     weights; id2label, label2id, problem_type
  tokenizer.json, tokenizer_config.json, ...
  topics.json                        topics, descriptions, per-topic thresholds, max_length
  training_config.yaml               the resolved recipe it was trained with
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import yaml

TOPICS_FILE = "topics.json"
TRAINING_CONFIG_FILE = "training_config.yaml"


@contextmanager
def atomic_dir(target: str | Path):
    """Yield a temporary sibling dir; on success it replaces `target` whole, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        _permissions_from_umask(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _permissions_from_umask(root: Path) -> None:
    """mkdtemp makes the dir 0700 and some writers (safetensors) their files 0600; a saved model or report
    should be readable as any file this user writes: 0777 / 0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    root.chmod(0o777 & ~umask)
    for path in root.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


@contextmanager
def atomic_text_file(path: str | Path):
    """Yield a text file open for writing; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the new content is on disk before it replaces the old
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete what atomic_dir and atomic_text_file leave behind when a process is killed mid-write
    (`.<name>.tmp-*`, `.<name>.old`, `.<name>.tmp`) directly inside `directory`; returns what went."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.iterdir() if p.name.startswith(".") and re.search(r"\.(tmp(-\w+)?|old)$", p.name)]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def append_line_durably(path: str | Path, line: str) -> None:
    """Append one line and fsync it (and, for a new file, its directory): once this returns, a killed
    process or a lost power supply cannot lose the line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())
    if new:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def write_json_atomic(path: str | Path, payload: dict) -> None:
    with atomic_text_file(path) as f:
        f.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def write_model_files(target: Path, model, tokenizer, topic_info: dict, training_config: dict) -> None:
    """Weights and config, tokenizer, topics.json and training_config.yaml into `target` (overwriting), the
    files `TopicClassifier.from_pretrained` reads. `target` is normally an atomic_dir's temporary dir."""
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / TOPICS_FILE).write_text(json.dumps(topic_info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (target / TRAINING_CONFIG_FILE).write_text(yaml.safe_dump(training_config, sort_keys=False), encoding="utf-8")


def read_topic_info(model_dir: str | Path) -> dict:
    path = Path(model_dir) / TOPICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no {TOPICS_FILE}: not a model dir written by `make train`")
    return json.loads(path.read_text(encoding="utf-8"))
