"""Few labeled texts per topic: what runs after the model is built and before the Trainer fine-tunes it.

Three switches, all off by default (configs/agnews.yaml turns them on; README, "AG News benchmark"):
- `descriptions_as_examples`: each topic's description in the topics file joins the few-shot stages as
  one more labeled text, and the prototype head leans on it (below).
- `contrastive_steps`: the SetFit-style contrastive stage (training.contrastive).
- `head: prototypes`: the head is a nearest-prototype classifier instead of a trained linear layer. A
  topic's prototype is the direction of its examples' sentence vectors (the normalised mean of their unit
  vectors) plus, with descriptions on, the direction of its description's vector, weighed as much as all
  its examples together: with 8 examples per topic the description is the steadier half (weight
  imprinting, Qi et al. 2018; a description as a zero-shot prior). Logits are PROTOTYPE_SCALE x cosine
  similarity. The head is set before fine-tuning and frozen during it, so cross-entropy moves only the
  encoder, pulling each text towards its topic's prototype; when training ends the prototypes are
  recomputed from the fine-tuned encoder (RefitPrototypes). A few dozen texts cannot train a head as
  well as their mean does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from training.config import Config
from training.contrastive import tune_encoder
from training.data import TopicDataset
from training.modeling import encode_batches

# Cosines lie in [-1, 1]: unscaled, a softmax over them could never be confident and cross-entropy would
# push forever. At 10, a 0.3 cosine margin between two topics is already a 95% probability.
PROTOTYPE_SCALE = 10.0


def few_shot_examples(data: TopicDataset, with_descriptions: bool) -> tuple[list[str], np.ndarray]:
    """The training split's texts and labels, plus one example per described topic when asked."""
    texts = list(data.splits["train"]["text"])
    labels = np.asarray(data.splits["train"]["labels"])
    if not with_descriptions:
        return texts, labels
    described = [(i, t.description) for i, t in enumerate(data.topics) if t.description]
    if data.multi_label:
        extra = np.eye(len(data.topics), dtype=labels.dtype)[[i for i, _ in described]]
    else:
        extra = np.array([i for i, _ in described], dtype=labels.dtype)
    return texts + [d for _, d in described], np.concatenate([labels, extra])


@torch.inference_mode()
def sentence_vectors(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int,
    batch_size: int = 64,
) -> torch.Tensor:
    """`model.embed` for many texts (len(texts) x hidden), in eval mode, in input order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    vectors = [
        model.embed(**batch.to(device)).float()
        for _, batch in encode_batches(tokenizer, texts, batch_size, max_length, by_length=False)
    ]
    model.train(was_training)
    return torch.cat(vectors)


def topic_prototypes(
    vectors: torch.Tensor, labels: np.ndarray, multi_label: bool, description_vectors: dict[int, torch.Tensor]
) -> torch.Tensor:
    """(topics x hidden) unit rows: each topic's examples' direction, plus its description's if given."""
    unit = nn.functional.normalize(vectors, dim=-1)
    labels = np.asarray(labels)
    num_topics = labels.shape[1] if multi_label else int(labels.max()) + 1
    rows = []
    for k in range(num_topics):
        members = labels[:, k] > 0.5 if multi_label else labels == k
        prototype = nn.functional.normalize(unit[torch.as_tensor(members)].mean(dim=0), dim=-1)
        if k in description_vectors:
            prototype = prototype + nn.functional.normalize(description_vectors[k], dim=-1)
        rows.append(nn.functional.normalize(prototype, dim=-1))
    return torch.stack(rows)


def init_head_from_prototypes(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    labels: np.ndarray,
    descriptions: dict[int, str],
    *,
    multi_label: bool,
    max_length: int,
) -> None:
    """Set `model.classifier` so that logits = PROTOTYPE_SCALE x cosine(text, topic prototype) (+ bias).

    `descriptions` maps a topic index to its description. Multi-label topics also get a bias that puts
    the 0.5 decision halfway between the mean similarity of their positives and of their negatives.
    """
    vectors = sentence_vectors(model, tokenizer, texts, max_length)
    described = sorted(descriptions)
    description_vectors = (
        dict(
            zip(
                described,
                sentence_vectors(model, tokenizer, [descriptions[k] for k in described], max_length),
                strict=True,
            )
        )
        if described
        else {}
    )
    prototypes = topic_prototypes(vectors, labels, multi_label, description_vectors)
    # The head sees raw (unnormalised) mean-pooled vectors; dividing by their typical length makes the
    # logits scaled cosines for a typical text.
    weight = PROTOTYPE_SCALE * prototypes / vectors.norm(dim=-1).mean()
    bias = torch.zeros(len(prototypes))
    if multi_label:
        cosines = nn.functional.normalize(vectors, dim=-1) @ prototypes.T
        hot = torch.as_tensor(np.asarray(labels) > 0.5)
        for k in range(len(prototypes)):
            positive = cosines[hot[:, k], k].mean()
            negative = cosines[~hot[:, k], k].mean() if (~hot[:, k]).any() else torch.tensor(0.0)
            bias[k] = -PROTOTYPE_SCALE * (positive + negative) / 2
    with torch.no_grad():
        model.classifier.weight.copy_(weight.to(model.classifier.weight))
        model.classifier.bias.copy_(bias.to(model.classifier.bias))


@dataclass
class RefitPrototypes(TrainerCallback):
    """Recompute the prototype head from the fine-tuned encoder when the Trainer finishes."""

    tokenizer: PreTrainedTokenizerBase
    texts: list[str]
    labels: np.ndarray
    descriptions: dict[int, str]
    multi_label: bool
    max_length: int

    def refit(self, model: PreTrainedModel) -> None:
        init_head_from_prototypes(
            model,
            self.tokenizer,
            self.texts,
            self.labels,
            self.descriptions,
            multi_label=self.multi_label,
            max_length=self.max_length,
        )

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.refit(model)


def prepare_for_few_labels(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, data: TopicDataset, config: Config
) -> list[TrainerCallback]:
    """Run the few-shot stages the recipe switches on (contrastive stage, then prototype head) and
    return the callbacks the Trainer needs for them."""
    args = config.training
    if not args.contrastive_steps and config.model.head == "linear":
        return []
    with_descriptions = args.descriptions_as_examples
    texts, labels = few_shot_examples(data, with_descriptions)
    if args.contrastive_steps:
        tune_encoder(
            model,
            tokenizer,
            texts,
            labels,
            multi_label=data.multi_label,
            steps=args.contrastive_steps,
            batch_size=args.per_device_train_batch_size,
            learning_rate=args.contrastive_learning_rate,
            max_length=config.model.max_length,
            seed=args.seed,
            bf16=args.bf16,
        )
    if config.model.head == "linear":
        return []
    described = [(i, t.description) for i, t in enumerate(data.topics) if t.description and with_descriptions]
    refit = RefitPrototypes(tokenizer, texts, labels, dict(described), data.multi_label, config.model.max_length)
    refit.refit(model)
    model.classifier.requires_grad_(False)
    return [refit]
