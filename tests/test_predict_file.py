import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same_prediction, write_jsonl

from training import predict_file as predict_file_module
from training.cli import main
from training.inference import TopicClassifier
from training.predict_file import predict_file, shard_bounds

OIL = "oil gas pipeline crude refinery grid report said"
TROOPS = "troops tanks drills missiles navy artillery officials said"
BANKS = "bank bonds currency loan rates stocks"


@pytest.fixture(scope="module")
def classifier(tiny_run) -> TopicClassifier:
    return TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_cli(tiny_run, *args) -> int:
    return main(["predict", "--model", str(tiny_run["model_dir"]), "--precision", "fp32", *args])


def test_jsonl_keeps_every_row_its_columns_and_id(tiny_run, classifier, tmp_path):
    rows = [
        {"id": "a-1", "text": OIL, "source": "wire", "meta": {"page": 3}},
        {"text": TROOPS, "source": "blog", "meta": {"page": 1}},
        {"id": "a-3", "text": None, "source": "empty", "meta": {"page": 2}},
        {"id": "a-4", "text": "   ", "source": "blank", "meta": {"page": 2}},
        {"id": "a-5", "text": BANKS, "source": "wire", "meta": {"page": 9}},
    ]
    output = tmp_path / "out.jsonl"
    assert run_cli(tiny_run, "--input", str(write_jsonl(tmp_path / "in.jsonl", rows)), "--output", str(output)) == 0
    got = read_jsonl(output)
    assert [r["id"] for r in got] == ["a-1", "in-2", "a-3", "a-4", "a-5"]
    for row, out in zip(rows, got, strict=True):
        assert {k: out[k] for k in row if k != "id"} == {k: v for k, v in row.items() if k != "id"}
    expected = classifier.predict([OIL, TROOPS, BANKS])
    for out, p in zip([got[0], got[1], got[4]], expected, strict=True):
        assert_same_prediction(
            out["predicted_labels"], out["predicted_scores"], p.labels, p.scores, classifier.thresholds
        )
    assert got[2]["predicted_labels"] is None and got[3]["predicted_scores"] is None


def test_csv_cells_come_back_verbatim(tiny_run, classifier, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(f'id,text,score\n007,"{OIL}, again",0.50\n,{TROOPS},\n', encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert run_cli(tiny_run, "--input", str(source), "--output", str(output)) == 0
    got = read_jsonl(output)
    assert [(r["id"], r["score"]) for r in got] == [("007", "0.50"), ("in-2", "")]
    assert got[0]["text"] == f"{OIL}, again"
    troops = classifier.predict(TROOPS)
    assert_same_prediction(
        got[1]["predicted_labels"], got[1]["predicted_scores"], troops.labels, troops.scores, classifier.thresholds
    )


def test_parquet_input(tiny_run, classifier, tmp_path):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [10, 11], "text": [OIL, BANKS], "year": [2024, 2025]}), source)
    output = tmp_path / "out.jsonl"
    assert run_cli(tiny_run, "--input", str(source), "--output", str(output)) == 0
    got = read_jsonl(output)
    assert [(r["id"], r["year"]) for r in got] == [(10, 2024), (11, 2025)]
    for out, p in zip(got, classifier.predict([OIL, BANKS]), strict=True):
        assert_same_prediction(
            out["predicted_labels"], out["predicted_scores"], p.labels, p.scores, classifier.thresholds
        )


def test_the_file_goes_through_the_model_a_chunk_at_a_time(classifier, tmp_path, monkeypatch):
    monkeypatch.setattr(predict_file_module, "CHUNK_ROWS", 4)
    texts = [f"{[OIL, TROOPS, BANKS][i % 3]} item {i}" for i in range(11)]
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    calls = []
    real_predict = classifier.predict
    monkeypatch.setattr(
        classifier,
        "predict",
        lambda batch, threshold=None: calls.append(len(batch)) or real_predict(batch, threshold),
    )
    assert predict_file(classifier, source, tmp_path / "out.jsonl") == 11
    assert calls == [4, 4, 3]
    assert [r["text"] for r in read_jsonl(tmp_path / "out.jsonl")] == texts


@pytest.mark.parametrize(("total", "shards"), [(10, 3), (2, 3), (0, 2), (7, 1)])
def test_shard_bounds_cover_every_row_once_in_order(total, shards):
    bounds = [shard_bounds(total, shards, i) for i in range(shards)]
    assert [i for start, stop in bounds for i in range(start, stop)] == list(range(total))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.slow
def test_two_shard_processes_concatenate_to_the_single_process_output(tiny_run, classifier, tmp_path):
    rows = [{"id": f"r{i}", "text": f"{[OIL, TROOPS, BANKS, 'nothing much'][i % 4]} {i}"} for i in range(25)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    whole = tmp_path / "whole.jsonl"
    assert run_cli(tiny_run, "--input", str(source), "--output", str(whole)) == 0
    base = [
        sys.executable,
        "-m",
        "training",
        "predict",
        "--model",
        str(tiny_run["model_dir"]),
        "--precision",
        "fp32",
    ]
    shards = [tmp_path / f"shard-{i}.jsonl" for i in range(2)]
    processes = [
        subprocess.Popen(
            [
                *base,
                "--input",
                str(source),
                "--output",
                str(out),
                "--num-shards",
                "2",
                "--shard-index",
                str(i),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, out in enumerate(shards)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    parts = [read_jsonl(shard) for shard in shards]
    assert len(parts[0]) == 12 and len(parts[1]) == 13
    # Each shard batches its rows differently from the whole run: the same rows and columns in the same
    # order, the same labels, scores equal to their last digits (conftest.SCORE_TOLERANCE).
    together, single = parts[0] + parts[1], read_jsonl(whole)
    predicted = ("predicted_labels", "predicted_scores")
    assert [{k: v for k, v in r.items() if k not in predicted} for r in together] == [
        {k: v for k, v in r.items() if k not in predicted} for r in single
    ]
    for got, expected in zip(together, single, strict=True):
        assert_same_prediction(
            got["predicted_labels"],
            got["predicted_scores"],
            expected["predicted_labels"],
            expected["predicted_scores"],
            classifier.thresholds,
        )


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (b'{"body": "no text column"}\n', ".jsonl", "in.jsonl: no row has a 'text' field"),
        (
            b'{"text": "x"}\n{"text": "y", "predicted_labels": []}\n',
            ".jsonl",
            "in.jsonl:2: already has a 'predicted_labels'",
        ),
        (b"text\tlabels\n", ".tsv", "unsupported file type '.tsv'"),
        (b'{"text": "a"}\n\n{"text": "b"\n', ".jsonl", "in.jsonl:3: not valid JSON"),
        (b'{"text": "caf\xe9 au lait"}\n', ".jsonl", "in.jsonl:1: not UTF-8 (byte 0xe9 at column 14)"),
        (b"id,text\n1,ok\n2,caf\xe9\n", ".csv", "in.csv:3: not UTF-8 (byte 0xe9"),
        (b'["a list"]\n', ".jsonl", "in.jsonl:1: expected a JSON object, got list"),
        (b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", ".jsonl", "in.jsonl:1: JSON nested too deeply"),
        (b"", ".jsonl", "in.jsonl: no rows to tag (an empty file)"),
        (b"\n\n", ".jsonl", "in.jsonl: no rows to tag (an empty file)"),
        (b"", ".csv", "in.csv:1: empty CSV"),
        (b"id,text\n1,a,extra\n", ".csv", "in.csv:2: 3 cells for the header's 2 columns"),
        (b"not parquet at all", ".parquet", "in.parquet: not a readable Parquet file"),
    ],
)
def test_unusable_input_is_an_error_and_writes_nothing(tiny_run, tmp_path, capsys, content, suffix, message):
    source = tmp_path / f"in{suffix}"
    source.write_bytes(content)
    output = tmp_path / "out.jsonl"
    assert run_cli(tiny_run, "--input", str(source), "--output", str(output)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not output.exists() and not list(tmp_path.glob(".out.jsonl*"))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_byte_order_mark_is_accepted(tiny_run, classifier, tmp_path, suffix):
    # Excel's "CSV UTF-8" starts the file with one; so do some JSONL writers on Windows.
    body = '{"id": "x1", "text": "oil gas pipeline"}\n' if suffix == ".jsonl" else "id,text\nx1,oil gas pipeline\n"
    source = tmp_path / f"in{suffix}"
    source.write_bytes(b"\xef\xbb\xbf" + body.encode())
    output = tmp_path / "out.jsonl"
    assert run_cli(tiny_run, "--input", str(source), "--output", str(output)) == 0
    (row,) = read_jsonl(output)
    assert row["id"] == "x1" and row["text"] == "oil gas pipeline" and row["predicted_labels"] is not None


def test_a_row_without_a_text_field_keeps_its_place(tiny_run, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": OIL}, {"id": "b", "note": "no text"}])
    output = tmp_path / "out.jsonl"
    assert run_cli(tiny_run, "--input", str(source), "--output", str(output)) == 0
    rows = read_jsonl(output)
    assert [r["id"] for r in rows] == ["a", "b"] and rows[1]["predicted_labels"] is None


@pytest.mark.parametrize(
    "args",
    [
        ["--input", "in.jsonl"],
        ["--input", "in.jsonl", "--output", "o.jsonl", "--num-shards", "2", "--shard-index", "2"],
    ],
)
def test_bad_file_options_are_usage_errors(tiny_run, args):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(tiny_run, *args)
    assert exit_info.value.code == 2
