"""The training recipe, top to bottom: data, tokenizer, model, Trainer, calibration, thresholds, test,
baselines, save with a model card, report.

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
from transformers.trainer import TRAINER_STATE_NAME

from training.artifacts import remove_stale_temporaries, save_model_dir, write_json_atomic
from training.baselines import run_baselines
from training.calibration import calibrate, fold_temperature
from training.config import Config
from training.data import TopicDataset, build_dataset, load_blind_set
from training.errors import DataError, TrainingError
from training.evaluation import score_metrics
from training.fewshot import prepare_for_few_labels
from training.model_card import write_model_card
from training.modeling import build_model, load_tokenizer
from training.report import REPORT_DIR, ScoredSplit, write_report
from training.scoring import reference_matrix, scores_from_logits
from training.thresholds import DEFAULT_THRESHOLD, tune_thresholds
from training.trainer import TopicTrainer, make_compute_metrics, positive_weights

logger = logging.getLogger(__name__)


def evaluate_scores(scores: np.ndarray, labels: np.ndarray, data: TopicDataset, thresholds) -> dict:
    refs = reference_matrix(labels, len(data.topics), data.multi_label)
    return score_metrics(scores, refs, data.topic_names, data.multi_label, thresholds)


def resume_checkpoint(config: Config) -> str | None:
    """The checkpoint to continue from (`resume_from_checkpoint`: a path, or "last" for the newest complete
    one in output_dir), or None for a fresh run. A checkpoint is complete once the Trainer has written
    its trainer_state.json, the last file of a save; the ones a kill interrupted are removed."""
    output_dir = Path(config.training.output_dir)
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.rpartition("-")[2] or 0))
    complete = [c for c in checkpoints if (c / TRAINER_STATE_NAME).is_file()]
    wanted = config.training.resume_from_checkpoint
    if wanted is None:
        if checkpoints:
            raise TrainingError(
                f"{output_dir} holds checkpoints of an interrupted run ({', '.join(c.name for c in checkpoints)}): "
                "continue it with --resume (make train ARGS=--resume), or delete them to start over"
            )
        return None
    if wanted == "last":
        if not complete:
            raise TrainingError(f"nothing to resume: {output_dir} has no complete checkpoint-* dir")
        for partial in checkpoints:
            if partial not in complete:
                shutil.rmtree(partial, ignore_errors=True)
        return str(complete[-1])
    if not (Path(wanted) / TRAINER_STATE_NAME).is_file():
        raise TrainingError(f"resume_from_checkpoint {wanted}: not a complete checkpoint (no {TRAINER_STATE_NAME})")
    return wanted


def chance_macro_f1(references: np.ndarray) -> float:
    """Macro-F1 of tagging each topic at random at its own rate (expected F1 = the topic's share of snippets),
    over the topics present: the floor a trained model must clear."""
    shares = np.asarray(references).mean(axis=0)
    return float(shares[shares > 0].mean()) if (shares > 0).any() else 0.0


def check_learned(trainer: TopicTrainer, validation: dict, references: np.ndarray, model_dir: Path) -> None:
    """Refuse a model that must not replace the saved one: no optimizer step, or validation below chance."""
    kept = f"{model_dir} was left as it was" if model_dir.exists() else "nothing was saved"
    if trainer.state.global_step == 0:
        raise TrainingError(f"training made no optimizer step (num_train_epochs, max_steps, data?); {kept}")
    floor = chance_macro_f1(references)
    if validation["macro_f1"] < floor:
        raise TrainingError(
            f"validation macro-F1 {validation['macro_f1']:.3f} is below chance ({floor:.3f}, tagging each topic "
            f"at random at its own rate): the model did not learn (learning rates? data?); {kept}"
        )


def train(config: Config) -> dict:
    """Train, tune thresholds, evaluate, and save `<output_dir>/model` and `metrics.json`."""
    started = time.time()
    set_seed(config.training.seed)
    output_dir = Path(config.training.output_dir)
    if config.training.process_index == 0:
        for path in remove_stale_temporaries(output_dir):
            logger.info("removed %s, left by a run killed while saving", path)
    resume_from = resume_checkpoint(config)
    data = build_dataset(
        config.data.train_files,
        config.data.topics_file,
        config.data.validation_fraction,
        config.data.test_fraction,
        config.data.split_seed,
    )
    if len(data.splits["validation"]) == 0:
        raise DataError("the validation split is empty: raise validation_fraction or add data")
    blind = load_blind_set(config.data.eval_files, data)
    logger.info(
        "data: %s, blind evaluation set: %s",
        {split: len(ds) for split, ds in data.splits.items()},
        len(blind) if blind is not None else "none",
    )

    tokenizer = load_tokenizer(config.model)

    def tokenize(dataset):
        return dataset.map(
            lambda batch: tokenizer(batch["text"], truncation=True, max_length=config.model.max_length),
            batched=True,
            remove_columns=["id", "text"],
            desc="tokenizing",
        )

    tokenized = tokenize(data.splits)
    model = build_model(config.model, data.topic_names, data.multi_label, tokenizer.vocab_size)
    # Contrastive stage and prototype head (training.fewshot), both off by default.
    callbacks = prepare_for_few_labels(model, tokenizer, data, config)
    # A fixed budget (eval_strategy: no, as in few-shot recipes) has no evaluations to stop on.
    if config.training.eval_strategy != "no":
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience))
    trainer = TopicTrainer(
        model=model,
        args=config.training,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=make_compute_metrics(data.topic_names, data.multi_label),
        callbacks=callbacks,
        pos_weight=positive_weights(data.splits["train"]["labels"], config.training.pos_weight)
        if data.multi_label
        else None,
    )
    trainer.train(resume_from_checkpoint=resume_from)
    # The scores below must line up with the splits' rows, but transformers 5 applies
    # train_sampling_strategy=group_by_length to evaluation too, reordering predict()'s output.
    trainer.args.train_sampling_strategy = "sequential"

    val_logits = trainer.predict(tokenized["validation"]).predictions
    val_labels = np.asarray(data.splits["validation"]["labels"])
    val_refs = reference_matrix(val_labels, len(data.topics), data.multi_label)
    # Calibrate before tuning thresholds: thresholds must apply to the scores the saved model returns.
    calibration = calibrate(val_logits, val_refs, data.multi_label)
    fold_temperature(trainer.model, calibration.temperature)
    val_scores = scores_from_logits(calibration.calibrated_logits(val_logits), data.multi_label)
    if data.multi_label:
        thresholds = tune_thresholds(
            val_scores, val_labels, data.topic_names, config.training.threshold_shrinkage, config.training.seed
        )
    else:
        thresholds = {}
    threshold_vector = [thresholds.get(n, DEFAULT_THRESHOLD) for n in data.topic_names]
    validation = evaluate_scores(val_scores, val_labels, data, threshold_vector)
    try:
        check_learned(trainer, validation, val_refs, config.model_dir)
    finally:
        _remove_checkpoints(output_dir, trainer)
    metrics = {
        "config": config.name,
        "examples": {split: len(ds) for split, ds in data.splits.items()},
        "train_seconds": None,
        "thresholds": thresholds,
        "temperature": calibration.summary(data.topic_names),
        # The Trainer's log: training loss and validation metrics per logging step / epoch.
        "history": trainer.state.log_history,
        "validation": validation,
    }
    if len(data.splits["test"]):
        test_scores = scores_from_logits(trainer.predict(tokenized["test"]).predictions, data.multi_label)
        test_labels = np.asarray(data.splits["test"]["labels"])
        metrics["test"] = evaluate_scores(test_scores, test_labels, data, threshold_vector)
        metrics["test_at_0.5"] = evaluate_scores(test_scores, test_labels, data, DEFAULT_THRESHOLD)
        reported_split, reported_scores = "test", test_scores
    else:
        reported_split, reported_scores = "validation", val_scores
    if blind is not None:
        blind_scores = scores_from_logits(trainer.predict(tokenize(blind)).predictions, data.multi_label)
        metrics["blind"] = {
            "files": config.data.eval_files,
            "n": len(blind),
            **evaluate_scores(blind_scores, np.asarray(blind["labels"]), data, threshold_vector),
        }

    if trainer.is_world_process_zero():
        reported = ScoredSplit(
            name=f"the {reported_split} split",
            texts=data.splits[reported_split]["text"],
            scores=reported_scores,
            references=reference_matrix(
                np.asarray(data.splits[reported_split]["labels"]), len(data.topics), data.multi_label
            ),
            topics=data.topic_names,
            thresholds=np.array(threshold_vector),
            multi_label=data.multi_label,
        )
        metrics["baselines"] = run_baselines(
            data, reported.texts, reported.references, config.training.threshold_shrinkage, config.training.seed
        )
        topic_info = {
            "topics": [dataclasses.asdict(t) for t in data.topics],
            "multi_label": data.multi_label,
            "thresholds": thresholds,
            "temperature": metrics["temperature"],
            "max_length": config.model.max_length,
        }

        def save_files(path: Path) -> None:
            trainer.model.save_pretrained(path)
            tokenizer.save_pretrained(path)
            write_model_card(path, config, data, metrics)

        save_model_dir(config.model_dir, save_files, topic_info, config.source)
        metrics["train_seconds"] = round(time.time() - started, 1)
        write_json_atomic(output_dir / "metrics.json", metrics)
        title = f"Evaluation report: {config.model_dir} (recipe {config.name})"
        reported_metrics = metrics[reported_split]
        write_report(
            output_dir / REPORT_DIR,
            title,
            reported,
            reported_metrics,
            metrics["baselines"],
            metrics["temperature"],
        )
    return metrics


def _remove_checkpoints(output_dir: Path, trainer: TopicTrainer) -> None:
    """Once training has finished, checkpoints have served their two uses (resume, best-model selection).
    Every rank must be past loading the best one before rank 0 deletes them."""
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        for checkpoint in output_dir.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
