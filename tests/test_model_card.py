import json
import re

import yaml

from tests.conftest import TOPICS
from tests.test_report import section, table
from training.model_card import MODEL_CARD_FILE
from training.report import fmt, fmt_threshold


def card_and_metrics(tiny_run) -> tuple[str, dict]:
    card = (tiny_run["model_dir"] / MODEL_CARD_FILE).read_text()
    return card, json.loads((tiny_run["output_dir"] / "metrics.json").read_text())


def test_card_has_hugging_face_front_matter(tiny_run):
    card, _ = card_and_metrics(tiny_run)
    front_matter = yaml.safe_load(card.split("---\n")[1])
    assert front_matter["library_name"] == "transformers"
    assert front_matter["pipeline_tag"] == "text-classification"
    assert "multi-label" in front_matter["tags"]
    assert "base_model" not in front_matter  # the tiny model is random, not fine-tuned from anything


def test_card_covers_use_topics_data_metrics_thresholds_limitations_and_loading(tiny_run):
    card, metrics = card_and_metrics(tiny_run)
    for heading in ("Intended use", "Topics", "Training data", "Metrics", "Thresholds and calibration"):
        assert f"## {heading}" in card
    assert "## Limitations" in card and "## How to load it" in card
    topics = table(section(card, "Topics"))
    assert {name: cells[0] for name, cells in topics.items()} == {t: f"toy topic {t}" for t in TOPICS}
    examples = table(section(card, "Training data"))
    assert sum(int(examples[t][0]) for t in TOPICS) > 0 and "(no topic)" in examples
    assert f"train {metrics['examples']['train']}, validation {metrics['examples']['validation']}" in card


def test_card_numbers_equal_metrics_json(tiny_run):
    card, metrics = card_and_metrics(tiny_run)
    rows = table(section(card, "Metrics"))
    for name in TOPICS:
        m = metrics["test"]["per_topic"][name]
        assert rows[name] == [
            str(m["support"]),
            fmt(m["precision"]),
            fmt(m["recall"]),
            fmt(m["f1"]),
            fmt_threshold(metrics["thresholds"][name]),
            fmt(m["ece"]),
        ]
    assert rows["**macro**"][3] == fmt(metrics["test"]["macro_f1"])
    for b in metrics["baselines"].values():
        assert rows[b["description"]][1].startswith(fmt(b["macro_f1"]))
    calibration = table(section(card, "Thresholds and calibration"))
    for name in TOPICS:
        assert calibration[name][0] == f"{metrics['temperature']['values'][name]:.3g}"


def test_the_loading_code_in_the_card_runs(tiny_run):
    card, _ = card_and_metrics(tiny_run)
    blocks = re.findall(r"```python\n(.*?)```", section(card, "How to load it"), flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for block in blocks:
        exec(block, namespace)  # noqa: S102  the card's own example, against the tiny model
    assert set(namespace["classifier"].topics) == set(TOPICS)
    assert {d["label"] for d in namespace["pipe"]("oil gas pipeline")[0]} == set(TOPICS)
