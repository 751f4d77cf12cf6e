"""The training recipe, top to bottom: data, tokenizer, model, Trainer, thresholds, test, save.

    python -m training train --config configs/default.yaml [--num_train_epochs 3 ...]
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

import numpy as np
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed

from training.artifacts import save_model_dir, write_json_atomic
from training.config import Config
from training.data import TopicDataset, build_dataset
from training.errors import DataError
from training.metrics import topic_metrics
from training.modeling import build_model, load_tokenizer
from training.thresholds import DEFAULT_THRESHOLD, tune_thresholds
from training.trainer import (
    TopicTrainer,
    decisions,
    make_compute_metrics,
    positive_weights,
    reference_matrix,
    scores_from_logits,
)

logger = logging.getLogger(__name__)


def evaluate_scores(scores: np.ndarray, labels: np.ndarray, data: TopicDataset, thresholds) -> dict:
    refs = reference_matrix(labels, len(data.topics), data.multi_label)
    return topic_metrics(decisions(scores, data.multi_label, thresholds), refs, data.topic_names)


def train(config: Config) -> dict:
    """Train, tune thresholds, evaluate, and save `<output_dir>/model` and `metrics.json`."""
    started = time.time()
    set_seed(config.training.seed)
    data = build_dataset(
        config.data.train_files,
        config.data.topics_file,
        config.data.validation_fraction,
        config.data.test_fraction,
        config.data.split_seed,
    )
    if len(data.splits["validation"]) == 0:
        raise DataError("the validation split is empty: raise validation_fraction or add data")
    logger.info("data: %s", {split: len(ds) for split, ds in data.splits.items()})

    tokenizer = load_tokenizer(config.model)
    tokenized = data.splits.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=config.model.max_length),
        batched=True,
        remove_columns=["id", "text"],
        desc="tokenizing",
    )
    model = build_model(config.model, data.topic_names, data.multi_label, tokenizer.vocab_size)
    use_pos_weight = data.multi_label and config.data.pos_weight == "auto"
    trainer = TopicTrainer(
        model=model,
        args=config.training,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=make_compute_metrics(data.topic_names, data.multi_label),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.data.early_stopping_patience)],
        head_learning_rate=config.model.head_learning_rate,
        pos_weight=positive_weights(data.splits["train"]["labels"]) if use_pos_weight else None,
    )
    trainer.train()

    val_scores = scores_from_logits(trainer.predict(tokenized["validation"]).predictions, data.multi_label)
    val_labels = np.asarray(data.splits["validation"]["labels"])
    if data.multi_label:
        thresholds = tune_thresholds(
            val_scores, val_labels, data.topic_names, config.data.threshold_shrinkage, config.training.seed
        )
    else:
        thresholds = {}
    threshold_vector = [thresholds.get(n, DEFAULT_THRESHOLD) for n in data.topic_names]
    metrics = {
        "config": config.name,
        "examples": {split: len(ds) for split, ds in data.splits.items()},
        "train_seconds": None,
        "thresholds": thresholds,
        # The Trainer's log: training loss and validation metrics per logging step / epoch.
        "history": trainer.state.log_history,
        "validation": evaluate_scores(val_scores, val_labels, data, threshold_vector),
    }
    if len(data.splits["test"]):
        test_scores = scores_from_logits(trainer.predict(tokenized["test"]).predictions, data.multi_label)
        test_labels = np.asarray(data.splits["test"]["labels"])
        metrics["test"] = evaluate_scores(test_scores, test_labels, data, threshold_vector)
        metrics["test_at_0.5"] = evaluate_scores(test_scores, test_labels, data, DEFAULT_THRESHOLD)

    output_dir = Path(config.training.output_dir)
    if trainer.is_world_process_zero():
        topic_info = {
            "topics": [dataclasses.asdict(t) for t in data.topics],
            "multi_label": data.multi_label,
            "thresholds": thresholds,
            "max_length": config.model.max_length,
        }

        def save_weights(path: Path) -> None:
            trainer.model.save_pretrained(path)
            tokenizer.save_pretrained(path)

        save_model_dir(config.model_dir, save_weights, topic_info, config.source)
        metrics["train_seconds"] = round(time.time() - started, 1)
        write_json_atomic(output_dir / "metrics.json", metrics)
        # Checkpoints only served best-model selection; the saved model dir is the artifact.
        for checkpoint in output_dir.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
    return metrics
