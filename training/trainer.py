"""The Hugging Face Trainer, adapted to topic classification.

Two changes to the stock Trainer, both measured (README, "Recipe"):
- the loss is modeling.topic_loss: BCE with optional per-topic positive weights for multi-label,
  cross-entropy for single-label, both with the recipe's label smoothing;
- the optimizer (any `optim` the Trainer knows that takes parameter groups) gives the fresh head its own,
  much higher learning rate (`head_learning_rate`): with one rate for everything the head sits on
  "no topic" for most of the run.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import EvalPrediction, Trainer

from training.metrics import topic_f1_module
from training.modeling import HEAD_MODULES, topic_loss
from training.scoring import decisions, reference_matrix, scores_from_logits

# Per-topic weights are capped so a topic with a handful of positives cannot dominate the loss.
MAX_POS_WEIGHT = 10.0
# pos_weight choices: the power of negatives/positives that weighs a topic's positives.
POS_WEIGHT_POWERS = {"sqrt": 1 / 2, "cbrt": 1 / 3}


def positive_weights(labels: np.ndarray, kind: str = "sqrt") -> torch.Tensor | None:
    """Per-topic BCE weight for positives: (negatives / positives) ** power, capped; None for "none"."""
    if kind == "none":
        return None
    labels = np.asarray(labels, dtype=float)
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    weights = (negatives / np.maximum(positives, 1.0)) ** POS_WEIGHT_POWERS[kind]
    return torch.tensor(np.clip(weights, 1.0, MAX_POS_WEIGHT), dtype=torch.float32)


def make_compute_metrics(topic_names: list[str], multi_label: bool):
    """Validation metrics at threshold 0.5 (thresholds are tuned after training); flat keys for logging."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        scores = scores_from_logits(prediction.predictions, multi_label)
        refs = reference_matrix(prediction.label_ids, len(topic_names), multi_label)
        metrics = topic_f1_module().compute(
            predictions=decisions(scores, multi_label).tolist(), references=refs.tolist(), label_names=topic_names
        )
        return {k: v for k, v in metrics.items() if k != "per_topic"}

    return compute_metrics


class TopicTrainer(Trainer):
    """`args` is a config.TopicTrainingArguments (head_learning_rate, label_smoothing_factor, optim)."""

    def __init__(self, *args, pos_weight: torch.Tensor | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pos_weight = pos_weight

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = topic_loss(outputs.logits, labels, self.pos_weight, self.args.label_smoothing_factor)
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = model if model is not None else self.model
            decay = set(self.get_decay_parameter_names(model))
            groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
            for name, param in model.named_parameters():
                if param.requires_grad:
                    is_head = any(part in HEAD_MODULES for part in name.split("."))
                    groups.setdefault((is_head, name in decay), []).append(param)
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
            if {"params", "model"} & set(optimizer_kwargs) or not isinstance(optimizer_cls, type):
                raise ValueError(
                    f"optim {self.args.optim!r} builds its own parameter groups; head_learning_rate needs "
                    "an optimizer that takes them (adamw_torch, adafactor, sgd, ...)"
                )
            self.optimizer = optimizer_cls(
                [
                    {
                        "params": params,
                        "lr": self.args.head_learning_rate if is_head else self.args.learning_rate,
                        "weight_decay": self.args.weight_decay if decays else 0.0,
                    }
                    for (is_head, decays), params in groups.items()
                ],
                **optimizer_kwargs,
            )
        return self.optimizer
