"""The training recipe, top to bottom: data, tokenizer, model, Trainer; then the model is saved to its
temporary dir and loaded back as users load it, calibrated and thresholded on validation, scored on
validation, test and the blind set, compared with the baselines, given a model card, moved into place,
and reported.

    python -m training train --config configs/default.yaml [--num_train_epochs 3 ...] [--resume]
    torchrun --standalone --nproc_per_node 2 -m training train ...   # DDP; rank 0 scores and saves
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

from training.artifacts import atomic_dir, remove_stale_temporaries, write_json_atomic, write_model_files
from training.baselines import run_baselines
from training.calibration import calibrate, fold_temperature
from training.config import Config
from training.data import TopicDataset, build_dataset, load_blind_set
from training.errors import DataError, TrainingError
from training.evaluation import score_metrics, score_split, split_metrics
from training.fewshot import prepare_for_few_labels
from training.inference import TopicClassifier
from training.metrics import chance_macro_f1
from training.model_card import write_model_card
from training.modeling import build_model, load_tokenizer
from training.report import REPORT_DIR, ScoredSplit, write_report
from training.scoring import DEFAULT_THRESHOLD, reference_matrix, scores_from_logits
from training.thresholds import tune_thresholds
from training.trainer import TopicTrainer, make_compute_metrics, positive_weights

logger = logging.getLogger(__name__)


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
            if partial not in complete and config.training.process_index == 0:
                shutil.rmtree(partial, ignore_errors=True)
        return str(complete[-1])
    if not (Path(wanted) / TRAINER_STATE_NAME).is_file():
        raise TrainingError(f"resume_from_checkpoint {wanted}: not a complete checkpoint (no {TRAINER_STATE_NAME})")
    return wanted


def check_learned(history: list[dict], validation: dict, references: np.ndarray, model_dir: Path) -> None:
    """Refuse a model that must not replace the saved one: no optimizer step, or validation below chance."""
    kept = f"{model_dir} was left as it was" if model_dir.exists() else "nothing was saved"
    if not any(h.get("step", 0) > 0 for h in history):
        raise TrainingError(f"training made no optimizer step (num_train_epochs, max_steps, data?); {kept}")
    floor = chance_macro_f1(references)
    if validation["macro_f1"] < floor:
        raise TrainingError(
            f"validation macro-F1 {validation['macro_f1']:.3f} is below chance ({floor:.3f}, tagging each topic "
            f"at random at its own rate): the model did not learn (learning rates? data?); {kept}"
        )


def train(config: Config, teacher: TopicClassifier | None = None) -> dict:
    """Train, tune thresholds, evaluate, and save `<output_dir>/model` and `metrics.json`.

    With a `teacher` (distillation, training.distill), the training split's targets are the teacher's scores
    instead of the labels; validation, thresholds and every reported number still use the labels."""
    started = time.time()
    set_seed(config.training.seed)
    output_dir = Path(config.training.output_dir)
    if config.training.process_index == 0:
        for path in remove_stale_temporaries(output_dir):
            logger.info("removed %s, left by a run killed while saving", path)
    resume_from = resume_checkpoint(config)
    data = build_dataset(config.data)
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
    if teacher is not None:  # the training split learns the teacher's scores; data.splits keeps the labels
        soft_targets = teacher.score(data.splits["train"]["text"]).tolist()
        tokenized["train"] = tokenized["train"].remove_columns("labels").add_column("labels", soft_targets)
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
    _remove_checkpoints(output_dir, trainer)
    if not trainer.is_world_process_zero():
        return {}  # rank 0 alone scores and saves; the model is the same on every rank
    history = trainer.state.log_history
    with atomic_dir(config.model_dir) as model_dir:
        # Saved, then scored through the TopicClassifier users load, in fp32 (the reference precision).
        write_model_files(model_dir, trainer.model, tokenizer, topic_info(config, data, {}, None), config.source)
        del trainer, model
        classifier = TopicClassifier.from_pretrained(model_dir, precision="fp32")
        validation_set = data.splits["validation"]
        val_logits = classifier.logits(validation_set["text"])
        val_refs = reference_matrix(np.asarray(validation_set["labels"]), len(data.topics), data.multi_label)
        # Calibrate before tuning thresholds: thresholds must apply to the scores the saved model returns.
        calibration = calibrate(val_logits, val_refs, data.multi_label)
        fold_temperature(classifier.model, calibration.temperature)
        val_scores = scores_from_logits(calibration.calibrated_logits(val_logits), data.multi_label)
        thresholds = (
            tune_thresholds(
                val_scores, val_refs, data.topic_names, config.training.threshold_shrinkage, config.training.seed
            )
            if data.multi_label
            else {}
        )
        temperature = calibration.summary(data.topic_names)
        write_model_files(
            model_dir, classifier.model, tokenizer, topic_info(config, data, thresholds, temperature), config.source
        )
        # The scores the saved model now returns on validation are val_scores: no second pass over it.
        threshold_vector = [thresholds.get(n, DEFAULT_THRESHOLD) for n in data.topic_names]
        validation = score_metrics(val_scores, val_refs, data.topic_names, data.multi_label, threshold_vector)
        check_learned(history, validation, val_refs, config.model_dir)
        classifier = TopicClassifier.from_pretrained(model_dir, precision="fp32")
        metrics = {
            "config": config.name,
            "examples": {split: len(ds) for split, ds in data.splits.items()},
            "train_seconds": None,
            "thresholds": thresholds,
            "temperature": temperature,
            # The Trainer's log: training loss and validation metrics per logging step / epoch.
            "history": history,
            "validation": validation,
        }
        reported_split = "test" if len(data.splits["test"]) else "validation"
        reported = score_split(classifier, data.splits[reported_split], f"the {reported_split} split")
        if reported_split == "test":
            metrics["test"] = split_metrics(reported)
            metrics["test_at_0.5"] = split_metrics(reported, DEFAULT_THRESHOLD)
        if blind is not None:
            scored = score_split(classifier, blind, ", ".join(config.data.eval_files))
            metrics["blind"] = {"files": config.data.eval_files, "n": len(blind), **split_metrics(scored)}
            metrics["blind"]["per_file"] = blind_metrics_per_file(scored, blind["file"])
        metrics["baselines"] = (
            run_baselines(
                data, reported.texts, reported.references, config.training.threshold_shrinkage, config.training.seed
            )
            if config.training.baselines
            else {}
        )
        write_model_card(model_dir, config, data, metrics)
    metrics["train_seconds"] = round(time.time() - started, 1)
    write_json_atomic(output_dir / "metrics.json", metrics)
    title = f"Evaluation report: {config.model_dir} (recipe {config.name})"
    # The worst errors' words come from the precision users get (`auto`: bf16 where it runs fast, ~3x fp32).
    explainer = TopicClassifier.from_pretrained(config.model_dir).explain
    write_report(
        output_dir / REPORT_DIR, title, reported, metrics[reported_split], metrics["baselines"], temperature, explainer
    )
    return metrics


def blind_metrics_per_file(scored: ScoredSplit, files_of_rows: list[str]) -> dict:
    """Each blind file's own numbers when there are several, sliced from the scores of the whole blind
    set: a set already used to choose a recipe no longer estimates news written by others as well as a
    fresh one does, so each is kept apart."""
    files = sorted(set(files_of_rows))
    if len(files) < 2:
        return {}
    per_file = {}
    for path in files:
        rows = [i for i, file in enumerate(files_of_rows) if file == path]
        per_file[path] = {"n": len(rows), **split_metrics(scored.subset(rows, path))}
    return per_file


def topic_info(config: Config, data: TopicDataset, thresholds: dict, temperature: dict | None) -> dict:
    """topics.json: what TopicClassifier needs besides the weights."""
    return {
        "topics": [dataclasses.asdict(t) for t in data.topics],
        "multi_label": data.multi_label,
        "thresholds": thresholds,
        "temperature": temperature,
        "max_length": config.model.max_length,
    }


def _remove_checkpoints(output_dir: Path, trainer: TopicTrainer) -> None:
    """Once training has finished, checkpoints have served their two uses (resume, best-model selection).
    Every rank must be past loading the best one before rank 0 deletes them."""
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        for checkpoint in output_dir.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
