import json
import re
import shutil

import numpy as np
import yaml
from PIL import Image

from tests.conftest import TOPICS, toy_rows, write_jsonl
from training.artifacts import TRAINING_CONFIG_FILE
from training.baselines import BASELINES
from training.cli import main
from training.report import PLOTS, REPORT_DIR, REPORT_FILE, ScoredSplit, confusion_counts, fmt, fmt_threshold


def section(markdown: str, heading: str) -> str:
    """The text under `## heading`, up to the next `## ` heading."""
    start = markdown.index(f"## {heading}")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end > 0 else None]


def table(markdown: str) -> dict[str, list[str]]:
    """First-column label -> the other cells, for every body row of the markdown tables in `markdown`."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    rows = {}
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not set(cells[0]) <= {"-"} and not following.startswith("|---"):  # neither rule nor header
            rows[cells[0]] = cells[1:]
    return rows


def assert_report_matches(report: str, metrics: dict, baselines: dict, thresholds: dict[str, float]) -> None:
    """Every number in the per-topic, summary and baseline tables equals the metrics JSON."""
    per_topic = table(section(report, "Per topic"))
    for name in TOPICS:
        m = metrics["per_topic"][name]
        expected = [str(m["support"]), fmt(m["precision"]), fmt(m["recall"]), fmt(m["f1"])]
        assert per_topic[name] == expected + [fmt_threshold(thresholds[name]), fmt(m["ece"])]
    for avg in ("micro", "macro"):
        prf = [fmt(metrics[f"{avg}_{k}"]) for k in ("precision", "recall", "f1")]
        assert per_topic[f"**{avg}**"][1:4] == prf
    assert per_topic["**exact match**"][3] == fmt(metrics["exact_match"])

    summary = table(section(report, "Summary"))
    assert summary["fine-tuned model"] == [fmt(metrics[k]) for k in ("micro_f1", "macro_f1", "exact_match")]
    side_by_side = table(section(report, "Baselines, side by side"))
    for column, b in enumerate(baselines.values(), start=1):
        for k, cell in zip(("micro_f1", "macro_f1", "exact_match"), summary[b["description"]], strict=True):
            assert cell == f"{fmt(b[k])} ({metrics[k] - b[k]:+.3f})"
        for name in TOPICS:
            assert side_by_side[name][column].startswith(fmt(b["per_topic"][name]["f1"]) + " (")


def assert_valid_pngs(report_dir) -> None:
    for name in PLOTS:
        path = report_dir / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        with Image.open(path) as image:
            image.verify()
            assert image.size[0] > 200 and image.size[1] > 200


def test_training_leaves_a_report_that_matches_metrics_json(tiny_run):
    metrics = json.loads((tiny_run["output_dir"] / "metrics.json").read_text())
    report_dir = tiny_run["output_dir"] / REPORT_DIR
    report = (report_dir / REPORT_FILE).read_text()
    assert_report_matches(report, metrics["test"], metrics["baselines"], metrics["thresholds"])
    for b in BASELINES.values():
        assert b in section(report, "Summary")
    for name in TOPICS:
        assert f"### {name}: " in section(report, "Worst errors")
        assert name in table(section(report, "Calibration"))
    for plot in PLOTS:
        assert f"]({plot})" in report
    assert_valid_pngs(report_dir)
    # Each worst error names the words that drove its topic (Shapley values), with their logit weight.
    errors = section(report, "Worst errors")
    rows = [line for line in errors.splitlines() if line.startswith("| false")]
    assert rows and all(line.rstrip(" |").split("|")[-1].strip() for line in rows)
    assert re.search(r"\| \w[\w'-]* \([+-]\d+\.\d\)", errors)


def test_make_evaluate_writes_the_same_report_for_any_labeled_file(tiny_run, tmp_path, capsys):
    data = write_jsonl(tmp_path / "analyst-set.jsonl", toy_rows(60, seed=11))
    output = tmp_path / "evaluation-analyst-set.json"
    assert (
        main(
            ["evaluate", "--model", str(tiny_run["model_dir"]), "--data", str(data), "--output", str(output)]
        )
        == 0
    )
    results = json.loads(output.read_text())
    assert results["n"] == 60
    report_dir = tmp_path / "eval-analyst-set"
    report = (report_dir / REPORT_FILE).read_text()
    assert_report_matches(report, results, results["baselines"], results["thresholds"])
    # The baselines were refitted on the model's own recipe and scored on the analyst's rows.
    assert list(results["baselines"]) == list(BASELINES)
    tfidf = results["baselines"]["tfidf_logreg"]
    assert tfidf["per_topic"]["energy"]["support"] == results["per_topic"]["energy"]["support"]
    assert (
        results["temperature"]
        == json.loads((tiny_run["output_dir"] / "metrics.json").read_text())["temperature"]
    )
    assert_valid_pngs(report_dir)
    assert f"{report_dir}/report.md" in capsys.readouterr().out


def test_evaluate_without_the_training_data_still_reports(tiny_run, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_run["model_dir"], model_dir)
    recipe = yaml.safe_load((model_dir / TRAINING_CONFIG_FILE).read_text())
    recipe["train_files"] = [str(tmp_path / "gone.jsonl")]
    (model_dir / TRAINING_CONFIG_FILE).write_text(yaml.safe_dump(recipe))
    data = write_jsonl(tmp_path / "set.jsonl", toy_rows(30, seed=12))
    assert main(["evaluate", "--model", str(model_dir), "--data", str(data)]) == 0
    results = json.loads((tmp_path / "evaluation-set.json").read_text())
    assert results["baselines"] == {}
    report = (tmp_path / "eval-set" / REPORT_FILE).read_text()
    assert "No baselines" in report
    assert_report_matches(report, results, {}, results["thresholds"])


def test_confusion_counts_hits_and_wrong_tags_only():
    split = ScoredSplit(
        name="toy",
        texts=["a", "b", "c"],
        scores=np.zeros((3, 2)),
        references=np.array([[1, 0], [1, 1], [0, 0]]),
        topics=["x", "y"],
        thresholds=np.array([0.5, 0.5]),
        multi_label=True,
    )
    predictions = np.array([[1, 1], [0, 1], [0, 0]])
    counts, support, names = confusion_counts(split, predictions)
    assert names == ["x", "y", "(no topic)"]
    np.testing.assert_array_equal(support, [2, 1, 1])
    # a (about x) is tagged x and, wrongly, y. b (about x and y) is tagged y: a hit for y, a miss for x,
    # and no confusion. c (about nothing) is tagged nothing.
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
