import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import TOPICS, toy_rows, write_jsonl, write_topics
from training.data import DataArguments, build_dataset, load_blind_set, load_labeled_file, normalized_key, split_of
from training.errors import DataError


def build(files, topics_file, **kwargs):
    return build_dataset(DataArguments([str(f) for f in files], str(topics_file) if topics_file else None, **kwargs))


def test_jsonl_becomes_multi_hot_dataset_dict(tmp_path, topics_file):
    data = build([write_jsonl(tmp_path / "a.jsonl", toy_rows(200))], topics_file)
    assert set(data.splits) == {"train", "validation", "test"}
    assert sum(len(s) for s in data.splits.values()) == 200
    assert data.multi_label and data.topic_names == TOPICS
    row = data.splits["train"][0]
    assert set(row) == {"id", "text", "labels"} and len(row["labels"]) == 3
    assert all(v in (0.0, 1.0) for v in row["labels"])


def test_csv_and_parquet_read_like_jsonl(tmp_path, topics_file):
    rows = toy_rows(120)
    with open(tmp_path / "a.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "labels"])
        for r in rows:
            writer.writerow([r["id"], r["text"], ";".join(r["labels"])])
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    from_jsonl = build([write_jsonl(tmp_path / "a.jsonl", rows)], topics_file)
    for name in ("a.csv", "a.parquet"):
        other = build([tmp_path / name], topics_file)
        for split in ("train", "validation", "test"):
            assert other.splits[split]["text"] == from_jsonl.splits[split]["text"]
            assert other.splits[split]["labels"] == from_jsonl.splits[split]["labels"]


def test_glob_patterns_expand(tmp_path, topics_file):
    rows = toy_rows(120)
    write_jsonl(tmp_path / "part1.jsonl", rows[:60])
    write_jsonl(tmp_path / "part2.jsonl", rows[60:])
    data = build([tmp_path / "part*.jsonl"], topics_file)
    assert sum(len(s) for s in data.splits.values()) == 120


def test_split_is_deterministic_and_leak_free(tmp_path, topics_file):
    path = write_jsonl(tmp_path / "a.jsonl", toy_rows(300))
    first, second = build([path], topics_file), build([path], topics_file)
    keys = {}
    for split in ("train", "validation", "test"):
        assert first.splits[split]["id"] == second.splits[split]["id"]
        keys[split] = {normalized_key(t) for t in first.splits[split]["text"]}
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]
    assert 0.08 < len(first.splits["test"]) / 300 < 0.25


def test_near_identical_texts_share_a_split():
    a = "Russia's oil exports to China rose 12% in 2023, customs data showed."
    b = "RUSSIA'S OIL EXPORTS TO CHINA ROSE 15% IN 2024 -- customs data showed"
    assert normalized_key(a) == normalized_key(b)
    assert all(split_of(a, s, 0.15, 0.15) == split_of(b, s, 0.15, 0.15) for s in range(50))


def test_single_label_rows_become_class_indices(tmp_path):
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    rows = [
        {"text": f"{a} {b} story about {c}", "label": c} for a in words for b in words for c in ("Sports", "World")
    ]
    data = build([write_jsonl(tmp_path / "s.jsonl", rows)], None)
    assert not data.multi_label
    assert data.topic_names == ["Sports", "World"]
    assert set(data.splits["train"]["labels"]) == {0, 1}


def test_exact_repeats_are_dropped(tmp_path, topics_file):
    rows = toy_rows(100)
    data = build([write_jsonl(tmp_path / "a.jsonl", rows + rows[:10])], topics_file)
    assert sum(len(s) for s in data.splits.values()) == 100


def test_labeled_file_for_evaluation_keeps_every_row(tmp_path, topics_file):
    ds = load_labeled_file(str(write_jsonl(tmp_path / "a.jsonl", toy_rows(30))), TOPICS, True)
    assert len(ds) == 30


# Every kind of bad input gets an error that names the file (and line) and what is wrong.


def expect_error(tmp_path, topics_file, lines: list[str], match: str, name="bad.jsonl"):
    path = tmp_path / name
    good = [json.dumps(r) for r in toy_rows(60)]
    path.write_text("\n".join(good + lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=match):
        build([path], topics_file)


def test_missing_file_is_named(tmp_path, topics_file):
    with pytest.raises(DataError, match="labeled data file not found: .*missing.jsonl"):
        build([tmp_path / "missing.jsonl"], topics_file)


def test_glob_without_match_is_named(tmp_path, topics_file):
    with pytest.raises(DataError, match="no labeled data file matches"):
        build([tmp_path / "*.jsonl"], topics_file)


def test_malformed_line_names_file_and_line(tmp_path, topics_file):
    expect_error(tmp_path, topics_file, ['{"text": "oops", "labels": ['], r"bad.jsonl:61: not valid JSON")


def test_missing_text_field(tmp_path, topics_file):
    expect_error(tmp_path, topics_file, ['{"labels": ["energy"]}'], r"bad.jsonl:61: missing field 'text'")


def test_missing_labels_field(tmp_path, topics_file):
    expect_error(tmp_path, topics_file, ['{"text": "a story"}'], r"bad.jsonl:61: missing field 'labels'")


def test_empty_text(tmp_path, topics_file):
    expect_error(tmp_path, topics_file, ['{"text": "   ", "labels": []}'], r"bad.jsonl:61: empty text")


def test_labels_not_a_list(tmp_path, topics_file):
    expect_error(tmp_path, topics_file, ['{"text": "x y", "labels": 3}'], r"bad.jsonl:61: 'labels' must be a list")


def test_unknown_topic_lists_the_valid_ones(tmp_path, topics_file):
    expect_error(
        tmp_path,
        topics_file,
        ['{"text": "a story", "labels": ["weather"]}'],
        r"bad.jsonl:61: unknown topic 'weather'; valid topics: energy, military, finance",
    )


def test_conflicting_labels_for_the_same_text(tmp_path, topics_file):
    expect_error(
        tmp_path,
        topics_file,
        ['{"text": "Oil prices rose.", "labels": ["energy"]}', '{"text": "oil prices rose", "labels": []}'],
        r"bad.jsonl:62: same text as .*bad.jsonl:61 but different labels",
    )


def test_topic_without_training_example(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml", TOPICS + ["technology"])
    path = write_jsonl(tmp_path / "a.jsonl", toy_rows(60))
    with pytest.raises(DataError, match="topic 'technology' has no example in the training split"):
        build([path], topics)


def test_csv_without_text_column(tmp_path, topics_file):
    (tmp_path / "bad.csv").write_text("body,labels\nx,energy\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv:1: CSV header must have a 'text' column"):
        build([tmp_path / "bad.csv"], topics_file)


def test_unsupported_file_type(tmp_path, topics_file):
    (tmp_path / "a.txt").write_text("hello\n")
    with pytest.raises(DataError, match="unsupported file type '.txt'"):
        build([tmp_path / "a.txt"], topics_file)


def test_mixed_single_and_multi_label_rows(tmp_path, topics_file):
    expect_error(tmp_path, topics_file, ['{"text": "a b c", "label": "energy"}'], r"bad.jsonl:61: mixes single-label")


def test_missing_topics_file(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", toy_rows(60))
    with pytest.raises(DataError, match="topics file not found"):
        build([path], tmp_path / "nope.yaml")


def test_blind_set_is_read_apart_from_the_split(tmp_path, topics_file):
    data = build([write_jsonl(tmp_path / "a.jsonl", toy_rows(100))], topics_file)
    blind_rows = [{"text": f"unseen {w} snippet about oil", "labels": ["energy"]} for w in "abcde"]
    write_jsonl(tmp_path / "blind-1.jsonl", blind_rows[:3])
    write_jsonl(tmp_path / "blind-2.jsonl", blind_rows[3:])
    blind = load_blind_set([str(tmp_path / "blind-*.jsonl")], data)
    assert blind["text"] == [r["text"] for r in blind_rows]
    assert load_blind_set([str(tmp_path / "none-*.jsonl")], data) is None


def test_blind_text_that_is_also_training_data_is_named(tmp_path, topics_file):
    rows = toy_rows(100)
    data = build([write_jsonl(tmp_path / "a.jsonl", rows)], topics_file)
    leaked = write_jsonl(tmp_path / "blind.jsonl", [{"text": rows[7]["text"].upper(), "labels": rows[7]["labels"]}])
    with pytest.raises(DataError, match=rf"{leaked}:1: this text is also in the training files"):
        load_blind_set([str(leaked)], data)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_training_files_may_start_with_a_byte_order_mark(tmp_path, topics_file, suffix):
    rows = toy_rows(60)
    if suffix == ".jsonl":
        body = "".join(json.dumps(r) + "\n" for r in rows)
    else:
        body = "text,labels\n" + "".join(f"{r['text']},{';'.join(r['labels'])}\n" for r in rows)
    path = tmp_path / f"a{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    data = build([path], topics_file)
    assert sum(len(s) for s in data.splits.values()) == 60


def test_a_byte_that_is_not_utf8_names_the_file_and_line(tmp_path, topics_file):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "fine", "labels": []}\n{"text": "caf\xe9", "labels": []}\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: not UTF-8 \(byte 0xe9 at column 14\)"):
        build([path], topics_file)


def test_text_that_is_not_a_string_says_so(tmp_path, topics_file):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": 42, "labels": []}])
    with pytest.raises(DataError, match=r"a.jsonl:1: 'text' must be a string, got int 42"):
        build([path], topics_file)


def test_an_empty_file_among_several_is_named(tmp_path, topics_file, caplog):
    (tmp_path / "b.jsonl").write_text("")
    data = build([write_jsonl(tmp_path / "a.jsonl", toy_rows(100)), tmp_path / "b.jsonl"], topics_file)
    assert sum(len(s) for s in data.splits.values()) == 100
    assert "b.jsonl: no rows (an empty file); skipped" in caplog.text
