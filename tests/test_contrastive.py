import numpy as np
import pytest
import torch

from tests.conftest import REPO, TOPICS, VOCAB
from training.config import load_config
from training.contrastive import cosine_pair_loss, pair_targets, tune_encoder
from training.modeling import build_model, load_tokenizer


def tiny_model(pooling: str = "mean"):
    config = load_config(REPO / "configs/tiny.yaml", {"pooling": pooling})
    tokenizer = load_tokenizer(config.model)
    return build_model(config.model, TOPICS, False, tokenizer.vocab_size), tokenizer


def test_single_label_pairs_share_a_class_and_skip_themselves():
    targets, counted = pair_targets(np.array([0, 1, 0]), multi_label=False)
    assert targets.tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    assert counted.tolist() == [[False, True, True], [True, False, True], [True, True, False]]


def test_multi_label_pairs_share_any_topic_and_two_empty_rows_say_nothing():
    labels = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=float)
    targets, counted = pair_targets(labels, multi_label=True)
    assert targets[0, 1] == 1 and targets[0, 2] == 0 and targets[2, 3] == 0
    assert counted[2, 3] and counted[3, 0]
    assert not counted[3, 4] and not counted[4, 3]


def test_loss_is_zero_when_classes_are_tight_and_orthogonal_and_weighs_pairs_by_kind():
    targets, counted = pair_targets(np.array([0, 0, 1, 1]), multi_label=False)
    ideal = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert cosine_pair_loss(ideal, targets, counted).item() == pytest.approx(0.0, abs=1e-6)
    # All four texts the same: positives are perfect, every negative pair misses by 1 -> (0 + 1) / 2,
    # although negative pairs outnumber positive ones 2 to 1.
    same = torch.ones(4, 2)
    assert cosine_pair_loss(same, targets, counted).item() == pytest.approx(0.5)


@pytest.mark.slow
def test_tuning_pulls_classes_apart_and_leaves_the_head_alone():
    model, tokenizer = tiny_model()
    texts = [f"{a} {b} report" for t in TOPICS for a, b in zip(VOCAB[t], VOCAB[t][1:], strict=False)]
    labels = np.repeat(np.arange(len(TOPICS)), len(texts) // len(TOPICS))
    head_before = model.classifier.weight.detach().clone()
    embeddings_before = model.bert.embeddings.word_embeddings.weight.detach().clone()
    losses = tune_encoder(
        model,
        tokenizer,
        texts,
        labels,
        multi_label=False,
        steps=30,
        batch_size=8,
        learning_rate=1e-3,
        max_length=16,
        seed=0,
    )
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert torch.equal(model.classifier.weight, head_before)
    assert not torch.equal(model.bert.embeddings.word_embeddings.weight, embeddings_before)


def test_the_cls_model_has_no_sentence_vector_to_tune():
    model, tokenizer = tiny_model(pooling="cls")
    with pytest.raises(ValueError, match="pooling: mean"):
        tune_encoder(
            model,
            tokenizer,
            ["a", "b"],
            np.array([0, 1]),
            multi_label=False,
            steps=1,
            batch_size=2,
            learning_rate=1e-3,
            max_length=8,
            seed=0,
        )
