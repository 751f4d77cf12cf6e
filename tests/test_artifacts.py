"""Writes that cannot half-happen, and cleaning up after the ones a kill interrupted."""

import json

import pytest

from training.artifacts import (
    TOPICS_FILE,
    atomic_dir,
    atomic_text_file,
    read_topic_info,
    remove_stale_temporaries,
    write_json_atomic,
)


def test_a_failed_save_keeps_the_previous_model(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "weights").write_text("half")
        raise RuntimeError("crash while saving")
    assert (target / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_failed_text_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"macro_f1": 0.9})
    with pytest.raises(KeyboardInterrupt), atomic_text_file(path) as f:
        f.write('{"macro_f1": ')
        raise KeyboardInterrupt
    assert json.loads(path.read_text()) == {"macro_f1": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_only_temporaries_of_our_own_naming_are_removed(tmp_path):
    keep = ["model", "report", "metrics.json", "checkpoint-30", ".gitignore", "notes.tmp"]
    stale = [".model.tmp-3x_9k", ".report.tmp-abc", ".model.old", ".metrics.json.tmp"]
    for name in keep + stale:
        (tmp_path / name).mkdir()
    assert sorted(p.name for p in remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    assert remove_stale_temporaries(tmp_path / "absent") == []


def test_a_dir_without_topics_json_is_not_a_model_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"has no {TOPICS_FILE}: not a model dir written by `make train`"):
        read_topic_info(tmp_path)
