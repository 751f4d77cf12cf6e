"""Model construction, batching and the loss, on the tiny config (no pretrained weights needed)."""

import pytest
import torch

from tests.conftest import REPO
from training.config import load_config
from training.modeling import build_model, encode_batches, load_tokenizer, resolve_model_path, topic_loss

TEXTS = ["a short one", "a much longer text with many more words in it than the others have", "mid length text"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(load_config(REPO / "configs/tiny.yaml").model)


def test_batches_cover_every_row_once_shortest_first_padded_to_a_multiple(tokenizer):
    batches = list(encode_batches(tokenizer, TEXTS, batch_size=2, max_length=64, pad_to_multiple_of=16))
    assert [idx for idx, _ in batches] == [[0, 2], [1]]
    assert batches[0][1]["input_ids"].shape[1] == 16  # two texts: padded up to a multiple of 16
    # One text alone is padded too: every shape the kernels see is a multiple of 16.
    assert batches[1][1]["input_ids"].shape[1] % 16 == 0
    in_order = list(encode_batches(tokenizer, TEXTS, batch_size=2, max_length=64, by_length=False))
    assert [idx for idx, _ in in_order] == [[0, 1], [2]]


def test_truncation_at_max_length(tokenizer):
    ((_, batch),) = encode_batches(tokenizer, [" ".join(["word"] * 200)], batch_size=4, max_length=32)
    assert batch["input_ids"].shape == (1, 32)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_head_knows_the_topics(tokenizer, pooling):
    args = load_config(REPO / "configs/tiny.yaml", {"pooling": pooling}).model
    model = build_model(args, ["a", "b", "c"], True, tokenizer.vocab_size)
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert model.config.problem_type == "multi_label_classification"
    ((_, batch),) = encode_batches(tokenizer, TEXTS, batch_size=8, max_length=32)
    out = model(**batch, labels=torch.zeros(3, 3))
    assert out.logits.shape == (3, 3) and out.loss is not None


def test_positive_weights_and_label_smoothing_change_the_loss_as_meant():
    logits = torch.tensor([[2.0, -2.0]])
    labels = torch.tensor([[1.0, 0.0]])
    plain = topic_loss(logits, labels)
    # Weighing positives up raises the loss of a positive not yet at score 1.
    assert topic_loss(logits, labels, pos_weight=torch.tensor([3.0, 3.0])) > plain
    # Smoothing pulls targets towards 0.5: a confident right answer costs more.
    assert topic_loss(logits, labels, label_smoothing=0.2) > plain
    single = topic_loss(torch.tensor([[3.0, 0.0]]), torch.tensor([0]))
    assert topic_loss(torch.tensor([[3.0, 0.0]]), torch.tensor([0]), label_smoothing=0.2) > single


def test_unknown_model_names_are_never_downloaded():
    with pytest.raises(FileNotFoundError, match="never downloads weights"):
        resolve_model_path("bert-base-uncased")
