"""The topic list: names, descriptions and boundary rules, read from data/topics.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from training.errors import DataError


@dataclass(frozen=True)
class Topic:
    name: str
    description: str = ""
    boundary: str = ""


def load_topics(path: str | Path) -> list[Topic]:
    """Read `topics: [{name, description, boundary}]`; order is the model's output order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"topics file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise DataError(f"{path}: not valid YAML: {e}") from e
    entries = doc.get("topics") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{path}: expected a non-empty list under 'topics:'")
    topics, seen = [], set()
    for i, entry in enumerate(entries, 1):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not str(entry.get("name", "")).strip():
            raise DataError(f"{path}: topic #{i} has no name")
        name = str(entry["name"]).strip()
        if name in seen:
            raise DataError(f"{path}: topic {name!r} is listed twice")
        seen.add(name)
        topics.append(Topic(name, str(entry.get("description", "")).strip(), str(entry.get("boundary", "")).strip()))
    return topics
