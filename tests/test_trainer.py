"""The Trainer's two changes: positive weights and a head learning rate; `optim` works through them."""

import numpy as np
import pytest
import torch

from tests.conftest import REPO, toy_rows, write_jsonl, write_topics
from training.config import load_config
from training.data import DataArguments, build_dataset
from training.modeling import HEAD_MODULES, build_model, load_tokenizer
from training.trainer import MAX_POS_WEIGHT, TopicTrainer, positive_weights


def test_positive_weights_follow_the_negative_to_positive_ratio():
    labels = np.array([[1, 0, 0]] * 1 + [[0, 1, 0]] * 4 + [[0, 0, 0]] * 395)
    sqrt = positive_weights(labels, "sqrt")
    assert sqrt[0] == pytest.approx(MAX_POS_WEIGHT)  # sqrt(399) ~ 20, capped
    assert sqrt[1] == pytest.approx((396 / 4) ** 0.5)
    assert sqrt[2] == pytest.approx(MAX_POS_WEIGHT)  # no positive: counted as one, capped
    assert positive_weights(labels, "cbrt")[1] == pytest.approx((396 / 4) ** (1 / 3))
    assert positive_weights(labels, "none") is None


@pytest.fixture
def trainer_for(tmp_path):
    def build(overrides: dict) -> TopicTrainer:
        data_file = write_jsonl(tmp_path / "toy.jsonl", toy_rows(60))
        topics = write_topics(tmp_path / "topics.yaml")
        fixed_budget = {"eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}
        config = load_config(
            REPO / "configs/tiny.yaml", {"output_dir": str(tmp_path / "run"), **fixed_budget, **overrides}
        )
        data = build_dataset(DataArguments([str(data_file)], str(topics)))
        tokenizer = load_tokenizer(config.model)
        model = build_model(config.model, data.topic_names, True, tokenizer.vocab_size)
        return TopicTrainer(model=model, args=config.training, processing_class=tokenizer)

    return build


def test_the_head_gets_its_own_learning_rate(trainer_for):
    trainer = trainer_for({"learning_rate": 1e-4, "head_learning_rate": 3e-2})
    optimizer = trainer.create_optimizer()
    head = {id(p) for n, p in trainer.model.named_parameters() if any(m in n.split(".") for m in HEAD_MODULES)}
    for group in optimizer.param_groups:
        is_head = {id(p) in head for p in group["params"]}
        assert len(is_head) == 1  # a group is all head or all body
        assert group["lr"] == (3e-2 if is_head.pop() else 1e-4)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(trainer.model.parameters()))


@pytest.mark.parametrize(("optim", "expected"), [("adamw_torch", torch.optim.AdamW), ("sgd", torch.optim.SGD)])
def test_optim_chooses_the_optimizer(trainer_for, optim, expected):
    assert isinstance(trainer_for({"optim": optim}).create_optimizer(), expected)
