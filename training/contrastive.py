"""A SetFit-style contrastive stage: teach the encoder which texts share a topic, before any head exists.

With a handful of labeled texts per topic, a fresh head trained end to end has little to go on. SetFit
(Tunstall et al. 2022) first tunes the sentence encoder on pairs: the cosine similarity of two sentence
vectors is pulled to 1 when the texts share a topic and to 0 when they do not. SetFit samples pairs and
encodes both sides of each; here every pair inside a batch counts, so a batch of 32 texts yields 496
pairs for 32 encodings. Positive and negative pairs weigh the same, as SetFit's balanced sampling makes
them.

Switched on by `contrastive_steps` (see configs/agnews.yaml); train.py calls `tune_encoder` after the
model is built and before the Trainer runs.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from training.modeling import encode_batches

logger = logging.getLogger(__name__)

# SetFit's warmup share: the first steps move the pretrained encoder gently.
WARMUP_FRACTION = 0.1


def pair_targets(labels: np.ndarray, multi_label: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets, counted): 1.0 where two rows share a topic; `counted` excludes self-pairs and, for
    multi-label, pairs of two rows without any topic (being about nothing says nothing about each other)."""
    labels = torch.as_tensor(np.asarray(labels))
    if multi_label:
        hot = (labels > 0.5).float()
        targets = ((hot @ hot.T) > 0).float()
        has_topic = hot.sum(dim=1) > 0
        counted = has_topic[:, None] | has_topic[None, :]
    else:
        targets = (labels[:, None] == labels[None, :]).float()
        counted = torch.ones_like(targets, dtype=torch.bool)
    return targets, counted & ~torch.eye(len(labels), dtype=torch.bool)


def cosine_pair_loss(vectors: torch.Tensor, targets: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Squared error between each pair's cosine similarity and its target, positives and negatives averaged
    separately and then together."""
    unit = nn.functional.normalize(vectors.float(), dim=-1)
    errors = (unit @ unit.T - targets) ** 2
    parts = [errors[mask].mean() for mask in (counted & (targets > 0.5), counted & (targets < 0.5)) if mask.any()]
    if not parts:
        raise ValueError("a contrastive batch needs at least two texts")
    return torch.stack(parts).mean()


def tune_encoder(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    labels: np.ndarray,
    *,
    multi_label: bool,
    steps: int,
    batch_size: int,
    learning_rate: float,
    max_length: int,
    seed: int,
    bf16: bool = False,
) -> list[float]:
    """Tune `model.embed`'s encoder for `steps` batches of in-batch pairs; returns the loss per step.

    Only the encoder moves (the head is left for what comes next). Batches are drawn without replacement
    and reshuffled each pass, so with fewer texts than `batch_size` every step sees them all.
    """
    if not hasattr(model, "embed"):
        raise ValueError("the contrastive stage needs the mean-pooling model (pooling: mean)")
    encoder = model.base_model
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, int(WARMUP_FRACTION * steps)), steps)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    size = min(batch_size, len(texts))
    order, start, losses = torch.randperm(len(texts), generator=generator), 0, []
    was_training = model.training
    model.train()  # dropout on, as in SetFit: a little noise keeps the few examples from being memorised
    for _ in range(steps):
        if start + size > len(texts):
            order, start = torch.randperm(len(texts), generator=generator), 0
        rows = order[start : start + size].tolist()
        start += size
        _, batch = next(encode_batches(tokenizer, [texts[i] for i in rows], size, max_length, by_length=False))
        batch = batch.to(device)
        with autocast:
            vectors = model.embed(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        loss = cosine_pair_loss(vectors, *pair_targets(np.asarray(labels)[rows], multi_label))
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.train(was_training)
    logger.info("contrastive stage: %d steps, loss %.4f -> %.4f", steps, losses[0], losses[-1])
    return losses
