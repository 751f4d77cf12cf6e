"""Batch tagging on Ray Data (training.ray_engine), held to predict-file's output for the same input."""

import json
import re
import threading

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same_prediction, write_jsonl

from tests.test_imports import loaded_after
from training.errors import DataError
from training.inference import TopicClassifier
from training.predict_file import OUTPUT_FIELDS, predict_file

ray = pytest.importorskip("ray")
ray_engine = pytest.importorskip("training.ray_engine")

pytestmark = pytest.mark.slow

OIL = "oil gas pipeline crude refinery grid report said"
TROOPS = "troops tanks drills missiles navy artillery officials said"
BANKS = "bank bonds currency loan rates stocks"


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one takes seconds); predict_with_ray joins it and leaves it running."""
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def classifier(tiny_run) -> TopicClassifier:
    return TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")


def tag_with_ray(tiny_run, source, output, **kwargs) -> list[dict]:
    """predict_with_ray's rows, read back from every shard of its output dir."""
    kwargs = {"concurrency": 1, **kwargs}
    written = ray_engine.predict_with_ray(tiny_run["model_dir"], source, output, precision="fp32", **kwargs)
    suffix = ".parquet" if kwargs.get("output_format") == "parquet" else ".jsonl"
    shards = sorted(output.iterdir())
    assert shards and {p.suffix for p in shards} == {suffix}
    if suffix == ".parquet":
        rows = pq.read_table(output).to_pylist()
    else:
        rows = [json.loads(line) for shard in shards for line in shard.read_text(encoding="utf-8").splitlines()]
    assert written == len(rows)
    return rows


def tag_with_predict_file(classifier, sources, tmp_path, threshold=None) -> list[dict]:
    rows = []
    for i, source in enumerate(sources):
        output = tmp_path / f"predict-file-{i}.jsonl"
        predict_file(classifier, source, output, threshold=threshold)
        rows += [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    return rows


def assert_same_rows(ray_rows: list[dict], file_rows: list[dict], thresholds: dict) -> None:
    """The same rows once sorted by id, with every column predict-file writes (a field that a JSONL row lacks comes
    back null from Ray), and the same predictions within conftest.SCORE_TOLERANCE."""
    assert len(ray_rows) == len(file_rows)
    by_id = sorted(ray_rows, key=lambda row: row["id"]), sorted(file_rows, key=lambda row: row["id"])
    for got, expected in zip(*by_id, strict=True):
        assert {k: got[k] for k in expected if k not in OUTPUT_FIELDS} == {
            k: v for k, v in expected.items() if k not in OUTPUT_FIELDS
        }
        assert all(got[k] is None for k in got.keys() - expected.keys())
        if expected["predicted_labels"] is None:
            assert got["predicted_labels"] is None and got["predicted_scores"] is None
        else:
            assert_same_prediction(
                got["predicted_labels"],
                got["predicted_scores"],
                expected["predicted_labels"],
                expected["predicted_scores"],
                thresholds,
            )


def test_a_glob_of_jsonl_files_with_rows_without_text(tiny_run, classifier, local_ray, tmp_path):
    rows = [
        {"id": "a-1", "text": OIL, "source": "wire", "meta": {"page": 3}, "date": "2024-01-05"},
        {"id": "007", "text": None, "source": "empty", "meta": {"page": 1}, "date": "2024-01-06"},
        {"id": "a-3", "text": "   ", "source": "blank", "meta": {"page": 2}, "date": "2024-01-07"},
        {"id": "a-4", "source": "no text field", "meta": {"page": 2}, "date": "2024-01-08"},
        {"id": "a-5", "text": TROOPS, "source": "wire", "meta": {"page": 9}, "date": "2024-01-09"},
    ]
    texts = [BANKS, f"{OIL} {BANKS}", "nothing much"]
    sources = [
        write_jsonl(tmp_path / "part-0.jsonl", rows),
        write_jsonl(tmp_path / "part-1.jsonl", [{"id": f"b-{i}", "text": text} for i, text in enumerate(texts)]),
    ]
    write_jsonl(tmp_path / "other.jsonl", [{"id": "not matched", "text": OIL}])
    got = tag_with_ray(tiny_run, str(tmp_path / "part-*.jsonl"), tmp_path / "tagged", threshold=0.3, concurrency=None)
    # JSON values as they are: the string "007" is no number, a date string no timestamp.
    expected = tag_with_predict_file(classifier, sources, tmp_path, threshold=0.3)
    assert_same_rows(got, expected, dict.fromkeys(classifier.topics, 0.3))
    assert sum(row["predicted_labels"] is None for row in got) == 3


def test_csv_cells_come_back_verbatim(tiny_run, classifier, local_ray, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(f'id,text,score\n007,"{OIL}, again",0.50\n008,{TROOPS},\n009,,1e3\n', encoding="utf-8")
    got = tag_with_ray(tiny_run, source, tmp_path / "tagged")
    assert sorted((row["id"], row["score"]) for row in got) == [("007", "0.50"), ("008", ""), ("009", "1e3")]
    assert_same_rows(got, tag_with_predict_file(classifier, [source], tmp_path), classifier.thresholds)


def test_parquet_in_parquet_out_into_an_empty_dir(tiny_run, classifier, local_ray, tmp_path):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [10, 11, 12], "text": [OIL, BANKS, None], "year": [2024, 2025, 2026]}), source)
    output = tmp_path / "tagged"
    output.mkdir()
    got = tag_with_ray(tiny_run, source, output, output_format="parquet")
    assert_same_rows(got, tag_with_predict_file(classifier, [source], tmp_path), classifier.thresholds)


def test_as_many_actors_as_cpus_leave_room_for_the_reads(tiny_run, classifier, local_ray, tmp_path):
    # Ray starts the actors first: two actors holding both CPU slots of the local Ray left none for the read task,
    # and the dataset hung for good (ray-project/ray#44687). A daemon thread, so a hang fails the test, not the run.
    rows = [{"id": f"r-{i}", "text": text} for i, text in enumerate([OIL, TROOPS, BANKS, None] * 10)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    outcome = {}

    def run():
        try:
            outcome["rows"] = tag_with_ray(tiny_run, source, tmp_path / "tagged", concurrency=2)
        except BaseException as e:  # handed to the test's thread below
            outcome["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=180)
    assert not worker.is_alive(), "two model actors on two CPUs did not finish within 180 s"
    if "error" in outcome:
        raise outcome["error"]
    assert_same_rows(outcome["rows"], tag_with_predict_file(classifier, [source], tmp_path), classifier.thresholds)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.jsonl", b'{"body": "no text column"}\n', "in.jsonl: no 'text' column (columns: body)"),
        ("in.jsonl", b'{"text": "a"}\n\n{"text": "b"\n', "in.jsonl:3: not valid JSON"),
        ("in.jsonl", b'{"text": "caf\xe9 au lait"}\n', "in.jsonl:1: not UTF-8 (byte 0xe9 at column 14)"),
        ("in.jsonl", b'{"id": 1, "text": "a"}\n{"id": "b", "text": "b"}\n', "in.jsonl:1-2: field 'id' does not fit"),
        ("in.csv", b"id,text\n1,a,extra\n", "in.csv:2: 3 cells for the header's 2 columns"),
        ("in.parquet", b"not parquet at all", "in.parquet: not a readable Parquet file"),
        ("in.tsv", b"text\tlabels\n", "in.tsv: unsupported file type '.tsv'"),
        ("in.jsonl", b'{"text": "x", "predicted_labels": []}\n', "already have a 'predicted_labels' column"),
    ],
)
def test_unusable_input_is_a_data_error_naming_the_file_and_writes_nothing(
    tiny_run, local_ray, tmp_path, name, content, message
):
    (tmp_path / "input").mkdir()
    source = tmp_path / "input" / name
    source.write_bytes(content)
    with pytest.raises(DataError) as error:
        ray_engine.predict_with_ray(tiny_run["model_dir"], source, tmp_path / "tagged", concurrency=1)
    assert message in str(error.value) and "Traceback" not in str(error.value)
    assert list(tmp_path.iterdir()) == [tmp_path / "input"]


def test_a_bad_file_among_several_is_named(tiny_run, local_ray, tmp_path):
    pq.write_table(pa.table({"text": [OIL]}), tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="b.parquet: not a readable Parquet file"):
        ray_engine.predict_with_ray(tiny_run["model_dir"], tmp_path, tmp_path / "tagged")


@pytest.mark.parametrize(
    ("inputs", "pattern", "message"),
    [
        ([], "missing.jsonl", "file not found: "),
        ([], "*.jsonl", "*.jsonl: no .jsonl, .csv, .parquet file there"),
        (["a.jsonl", "b.csv"], ".", "holds .csv and .jsonl files; tag one format at a time"),
    ],
)
def test_input_that_names_no_single_format_is_a_data_error(tiny_run, tmp_path, inputs, pattern, message):
    for name in inputs:
        (tmp_path / name).write_text("text\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(message)):
        ray_engine.predict_with_ray(tiny_run["model_dir"], str(tmp_path / pattern), tmp_path / "out")


def test_an_output_dir_that_holds_files_is_an_error(tiny_run, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": OIL}])
    (tmp_path / "tagged").mkdir()
    (tmp_path / "tagged" / "earlier.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(DataError, match="tagged already exists"):
        ray_engine.predict_with_ray(tiny_run["model_dir"], source, tmp_path / "tagged")


def test_topic_tagger_in_your_own_pipeline(tiny_run, classifier, local_ray):
    items = [{"id": i, "text": text} for i, text in enumerate([OIL, None, TROOPS, "  ", BANKS])]
    rows = (
        ray.data.from_items(items)
        .map_batches(
            ray_engine.TopicTagger,
            fn_constructor_kwargs={"model": str(tiny_run["model_dir"]), "precision": "fp32"},
            compute=ray.data.ActorPoolStrategy(size=1),
            batch_format="pandas",
        )
        .take_all()
    )
    rows = sorted(rows, key=lambda row: row["id"])
    assert [row["text"] for row in rows] == [item["text"] for item in items]
    assert rows[1]["predicted_labels"] is None and rows[3]["predicted_scores"] is None
    for row, p in zip([rows[0], rows[2], rows[4]], classifier.predict([OIL, TROOPS, BANKS]), strict=True):
        assert_same_prediction(
            list(row["predicted_labels"]), row["predicted_scores"], p.labels, p.scores, classifier.thresholds
        )


def test_topic_tagger_tags_pandas_and_arrow_batches_alike(tiny_run, classifier):
    tagger = ray_engine.TopicTagger(tiny_run["model_dir"], precision="fp32", text_column="body")
    bodies = [OIL, 42, None, " ", BANKS]  # 42: not a string, so not tagged, as predict-file does
    from_pandas = tagger(pd.DataFrame({"n": range(5), "body": bodies}))
    from_arrow = tagger(pa.table({"n": range(5), "body": [b if isinstance(b, str) else None for b in bodies]}))
    assert list(from_pandas.columns) == ["n", "body", *OUTPUT_FIELDS] == from_arrow.column_names
    assert from_pandas["predicted_labels"].tolist() == from_arrow["predicted_labels"].to_pylist()
    assert from_pandas["predicted_scores"].tolist() == from_arrow["predicted_scores"].to_pylist()
    assert [labels is None for labels in from_arrow["predicted_labels"].to_pylist()] == [False, True, True, True, False]
    # A batch without the text column has no row to tag.
    assert tagger(pa.table({"n": [1]}))["predicted_scores"].to_pylist() == [None]


def test_a_ray_session_joins_ray_address_else_starts_a_local_ray_and_ends_only_what_it_started(monkeypatch):
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(("init", kwargs)))
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append(("shutdown",)))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    with ray_engine._ray_session():
        pass
    monkeypatch.delenv("RAY_ADDRESS")
    with ray_engine._ray_session():
        pass
    assert calls == [
        ("init", {"address": "127.0.0.1:6379"}),
        ("shutdown",),
        ("init", {"address": "local"}),
        ("shutdown",),
    ]
    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # the caller's own session: used, left running
    with ray_engine._ray_session():
        pass
    assert len(calls) == 4


def test_importing_the_package_never_imports_ray():
    assert "ray" not in loaded_after("import training.cli; training.cli.build_parser()")


def test_the_command_line_runs_the_ray_engine(local_ray, tiny_run, tmp_path, capsys):
    from training.cli import main

    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"r{i}", "text": [OIL, TROOPS, BANKS][i % 3]} for i in range(9)]
    )
    output = tmp_path / "tagged"
    args = ["predict", "--model", str(tiny_run["model_dir"]), "--precision", "fp32", "--engine", "ray"]
    assert main([*args, "--input", str(source), "--output", str(output), "--output-format", "parquet"]) == 0
    assert "wrote 9 rows" in capsys.readouterr().err
    assert sorted(pq.read_table(output)["id"].to_pylist()) == sorted(f"r{i}" for i in range(9))
    with pytest.raises(SystemExit):  # the engine schedules the work: no manual shards
        main([*args, "--input", str(source), "--output", str(tmp_path / "x"), "--num-shards", "2"])
