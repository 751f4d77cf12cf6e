"""The model card: README.md inside the saved model dir, as Hugging Face model dirs carry.

It says what the model is for, which topics it knows and what they mean, what it was trained on,
how well it does on the held-out test split (and against the baselines), its thresholds and
calibration, where it fails, and how to load it. Written by `make train` from the same metrics dict
as metrics.json, so its numbers always match the run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.config import Config
from training.data import TopicDataset
from training.report import (
    NO_TOPIC,
    REPORT_DIR,
    REPORT_FILE,
    calibration_table,
    markdown_table,
    metrics_table,
    summary_table,
    temperature_was_fitted,
)

MODEL_CARD_FILE = "README.md"
# Topics learned from fewer training examples than this are named under Limitations: their boundary
# rests on a handful of cases and their test numbers on fewer still.
FEW_TRAINING_EXAMPLES = 100


def _front_matter(config: Config, multi_label: bool) -> str:
    lines = ["---", "library_name: transformers", "pipeline_tag: text-classification", "language: en"]
    if config.model.tiny_model is None:
        lines.append(f"base_model: {config.model.model_name_or_path}")
    tags = ["text-classification", "multi-label" if multi_label else "single-label", "news", "geopolitics"]
    return "\n".join(lines + ["tags:"] + [f"  - {t}" for t in tags] + ["---"])


def _training_examples(data: TopicDataset) -> dict[str, int]:
    """Training snippets per topic, and (multi-label) with no topic at all."""
    labels = np.asarray(data.splits["train"]["labels"])
    if not data.multi_label:
        return dict(
            zip(data.topic_names, np.bincount(labels, minlength=len(data.topics)).tolist(), strict=True)
        )
    counts = dict(zip(data.topic_names, labels.sum(axis=0).astype(int).tolist(), strict=True))
    return {**counts, NO_TOPIC: int((labels.sum(axis=1) == 0).sum())}


def _training_data_section(config: Config, data: TopicDataset) -> str:
    rows = [[name, str(n)] for name, n in _training_examples(data).items()]
    sizes = ", ".join(f"{split} {len(ds)}" for split, ds in data.splits.items())
    files = ", ".join(f"`{f}`" for f in config.data.train_files)
    return (
        "## Training data\n\n"
        f"Labeled snippets from {files} (topics from `{config.data.topics_file}`), split by a hash of "
        f"each snippet's normalised text (seed {config.data.split_seed}), so near-duplicates share a split: "
        f"{sizes}.\n\nTraining examples per topic:\n\n" + markdown_table(["topic", "train examples"], rows)
    )


def _metrics_section(metrics: dict, split: str, multi_label: bool, report: Path) -> str:
    thresholds = metrics["thresholds"] if multi_label else None
    held_out = (
        "never used for training or tuning"
        if split == "test"
        else "the split thresholds were tuned on, so these numbers are optimistic"
    )
    return (
        f"## Metrics\n\nOn the {split} split ({metrics['examples'][split]} snippets, {held_out}), at the "
        "tuned thresholds:\n\n" + metrics_table(metrics[split], thresholds) + "\n\n"
        "Against baselines fitted on the same train split, with thresholds tuned on the same validation "
        "split (in brackets, how far this model is ahead):\n\n"
        + summary_table(metrics[split], metrics["baselines"])
        + f"\n\nThe full evaluation report (precision-recall curves, confusions, worst errors): `{report}`."
    )


def _thresholds_section(data: TopicDataset, metrics: dict, shrinkage: float) -> str:
    temperature = metrics["temperature"]
    rule = (
        "A topic is assigned when its score reaches its threshold (the Metrics table). Thresholds were "
        "tuned per topic on the validation split (cross-fitted, then pulled back towards 0.5 by "
        f"{shrinkage:g} of the way so they do not overfit); they live in `topics.json`."
        if data.multi_label
        else "The topic with the highest score is the label (arg-max); there are no thresholds."
    )
    calibration = (
        "Scores are calibrated: logits are divided by a temperature fitted on the validation split, "
        "folded into the classifier weights, so the scores every loader returns can be read as probabilities."
        if temperature_was_fitted(temperature)
        else "Validation calibration error was low enough that no temperature was fitted."
    )
    return f"## Thresholds and calibration\n\n{rule} {calibration}\n\n" + calibration_table(temperature)


def _limitations_section(data: TopicDataset, config: Config, metrics: dict, split: str) -> str:
    counts = _training_examples(data)
    rare = [name for name in data.topic_names if counts[name] < FEW_TRAINING_EXAMPLES]
    support = [t["support"] for t in metrics[split]["per_topic"].values()]
    items = [
        f"Small data: {len(data.splits['train'])} training snippets. Each topic's {split} numbers rest on "
        f"{min(support)} to {max(support)} snippets about it, so differences of a few points between topics "
        "are noise.",
        f"The {split} split comes from the same files as the training data; on other outlets, periods or "
        "writing styles expect lower numbers. Measure on your own labeled set: "
        "`make evaluate MODEL=<this dir> DATA=<your file>`.",
        "The topic boundaries in the topics file are fine distinctions (background mentions, the sector "
        "of an action); read each topic's worst errors in the report before relying on it.",
        f"Texts are truncated at {config.model.max_length} word pieces; it was trained on 1-3 sentence "
        "English snippets, not whole articles or other languages.",
        "Calibration was fitted on the validation split only; check the ECE column on your data.",
    ]
    if rare:
        items.insert(1, f"Topics with under {FEW_TRAINING_EXAMPLES} training examples: {', '.join(rare)}.")
    return "## Limitations\n\n" + "\n".join(f"- {item}" for item in items)


def _usage_section(model_dir: Path, example_topic: str) -> str:
    return f"""## How to load it

```python
from training import TopicClassifier, predict

predict("US sanctions target Russia's crude oil exports", model="{model_dir}").labels
classifier = TopicClassifier.from_pretrained("{model_dir}")  # keeps the model loaded
classifier.predict(["...", "..."], threshold={{"{example_topic}": 0.4}})  # per-topic override
```

In a plain `transformers` pipeline (scores only; apply the thresholds from `topics.json` yourself):

```python
import training  # registers the "topic-bert" model type with the Auto classes
from transformers import pipeline

pipe = pipeline("text-classification", model="{model_dir}", top_k=None)
```

From the shell: `make predict MODEL={model_dir} TEXT="..."`."""


def write_model_card(target_dir: str | Path, config: Config, data: TopicDataset, metrics: dict) -> Path:
    """Write README.md into `target_dir` (the model dir being saved, possibly still a temporary dir).
    `metrics` is the run's metrics.json content, with "test" (or "validation"), "baselines",
    "thresholds" and "temperature"."""
    split = "test" if "test" in metrics else "validation"
    kind = "multi-label" if data.multi_label else "single-label"
    base = "a tiny randomly initialised BERT" if config.model.tiny_model else config.model.model_name_or_path
    topic_rows = [[t.name, t.description or ""] for t in data.topics]
    sections = [
        _front_matter(config, data.multi_label),
        f"# Geopolitical news topics ({config.name})\n\n"
        f"A {kind} topic classifier for short news snippets, fine-tuned from {base} with the recipe "
        f"`{config.name}` (the resolved recipe is `training_config.yaml` in this dir).",
        "## Intended use\n\n"
        "Tagging English news snippets (a headline or 1-3 sentences) about geopolitics with the topics "
        "below, to route, filter and count them; an analyst reads the tagged snippets. Not for whole "
        "articles, other languages, topics outside this list, or decisions about people without a "
        "person checking the tags.",
        "## Topics\n\n" + markdown_table(["topic", "what it covers"], topic_rows),
        _training_data_section(config, data),
        _metrics_section(
            metrics, split, data.multi_label, Path(config.training.output_dir) / REPORT_DIR / REPORT_FILE
        ),
        _thresholds_section(data, metrics, config.training.threshold_shrinkage),
        _limitations_section(data, config, metrics, split),
        _usage_section(config.model_dir, data.topic_names[0]),
    ]
    path = Path(target_dir) / MODEL_CARD_FILE
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path
