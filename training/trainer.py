"""The Hugging Face Trainer, adapted to topic classification.

Two changes to the stock Trainer, both measured (README, "Recipe"):
- the loss is computed here: BCE with optional per-topic positive weights for multi-label,
  cross-entropy for single-label;
- the optimizer gives the fresh head its own, much higher learning rate: with one rate for
  everything the head sits on "no topic" for most of the run.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import EvalPrediction, Trainer

from training.metrics import topic_metrics
from training.modeling import HEAD_MODULES
from training.scoring import decisions, reference_matrix, scores_from_logits  # noqa: F401  re-exported

# sqrt(neg/pos) weights are capped so a topic with a handful of positives cannot dominate the loss.
MAX_POS_WEIGHT = 10.0


def positive_weights(labels: np.ndarray) -> torch.Tensor:
    """Per-topic BCE weight for positives: sqrt(negatives / positives), capped."""
    labels = np.asarray(labels, dtype=float)
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    weights = np.sqrt(negatives / np.maximum(positives, 1.0))
    return torch.tensor(np.clip(weights, 1.0, MAX_POS_WEIGHT), dtype=torch.float32)


def make_compute_metrics(topic_names: list[str], multi_label: bool):
    """Validation metrics at threshold 0.5 (thresholds are tuned after training); flat keys for logging."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        scores = scores_from_logits(prediction.predictions, multi_label)
        refs = reference_matrix(prediction.label_ids, len(topic_names), multi_label)
        metrics = topic_metrics(decisions(scores, multi_label), refs, topic_names)
        return {k: v for k, v in metrics.items() if k != "per_topic"}

    return compute_metrics


class TopicTrainer(Trainer):
    def __init__(self, *args, head_learning_rate: float, pos_weight: torch.Tensor | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_learning_rate = head_learning_rate
        self.pos_weight = pos_weight

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits.float()
        if labels.dtype.is_floating_point:
            weight = self.pos_weight.to(logits.device) if self.pos_weight is not None else None
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weight)
        else:
            loss = nn.functional.cross_entropy(logits, labels)
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
            self.optimizer = torch.optim.AdamW(
                [
                    {
                        "params": params,
                        "lr": self.head_learning_rate if is_head else self.args.learning_rate,
                        "weight_decay": self.args.weight_decay if decays else 0.0,
                    }
                    for (is_head, decays), params in groups.items()
                ],
                lr=self.args.learning_rate,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
                eps=self.args.adam_epsilon,
            )
        return self.optimizer
