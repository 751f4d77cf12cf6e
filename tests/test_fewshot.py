import random

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.conftest import FILLER, REPO, TOPICS, VOCAB, write_jsonl, write_topics
from training.config import ConfigError, load_config
from training.data import DataArguments, build_dataset
from training.fewshot import (
    PROTOTYPE_SCALE,
    RefitPrototypes,
    few_shot_examples,
    init_head_from_prototypes,
    prepare_for_few_labels,
    sentence_vectors,
    topic_prototypes,
)
from training.modeling import build_model, load_tokenizer
from training.train import train


def single_label_rows(n: int, seed: int = 0) -> list[dict]:
    """Toy single-label texts: two of the topic's own words among filler."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        words = rng.sample(VOCAB[topic], 2) + rng.sample(FILLER, 4)
        rng.shuffle(words)
        rows.append({"text": f"item {i} " + " ".join(words), "label": topic})
    return rows


def tiny(multi_label: bool = False):
    config = load_config(REPO / "configs/tiny.yaml")
    tokenizer = load_tokenizer(config.model)
    return build_model(config.model, TOPICS, multi_label, tokenizer.vocab_size), tokenizer


def test_descriptions_join_the_examples_with_their_topic(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml")
    single = build_dataset(
        DataArguments([str(write_jsonl(tmp_path / "s.jsonl", single_label_rows(30)))], str(topics), 0.2, 0.0)
    )
    texts, labels = few_shot_examples(single, with_descriptions=True)
    assert texts[-3:] == ["toy topic energy", "toy topic military", "toy topic finance"]
    assert labels[-3:].tolist() == [0, 1, 2] and len(texts) == len(labels) == len(single.splits["train"]) + 3
    assert len(few_shot_examples(single, with_descriptions=False)[0]) == len(single.splits["train"])

    rows = [{"text": r["text"], "labels": [r["label"]]} for r in single_label_rows(30)]
    multi = build_dataset(DataArguments([str(write_jsonl(tmp_path / "m.jsonl", rows))], str(topics), 0.2, 0.0))
    _, multi_labels = few_shot_examples(multi, with_descriptions=True)
    assert multi_labels[-3:].tolist() == np.eye(3).tolist()


def test_a_description_weighs_as_much_as_all_examples_of_its_topic():
    vectors = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    labels = np.array([0, 0, 1])
    plain = topic_prototypes(vectors, labels, False, {})
    assert torch.allclose(plain, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    with_description = topic_prototypes(vectors, labels, False, {0: torch.tensor([0.0, 5.0])})
    assert torch.allclose(with_description[0], torch.tensor([1.0, 1.0]) / 2**0.5)
    assert torch.allclose(with_description[1], torch.tensor([0.0, 1.0]))


def test_the_prototype_head_scores_scaled_cosines():
    model, tokenizer = tiny()
    texts = [" ".join(VOCAB[t][:3]) for t in TOPICS] + [" ".join(VOCAB[t][3:]) for t in TOPICS]
    labels = np.array([0, 1, 2, 0, 1, 2])
    init_head_from_prototypes(model, tokenizer, texts, labels, {}, multi_label=False, max_length=16)
    vectors = sentence_vectors(model, tokenizer, texts, max_length=16)
    prototypes = topic_prototypes(vectors, labels, False, {})
    model.eval()
    with torch.no_grad():
        logits = model.classifier(vectors)
    cosines = torch.nn.functional.normalize(vectors, dim=-1) @ prototypes.T
    scale = PROTOTYPE_SCALE * vectors.norm(dim=-1, keepdim=True) / vectors.norm(dim=-1).mean()
    assert torch.allclose(logits, scale * cosines, atol=1e-4)


def test_multi_label_bias_puts_the_cut_between_positives_and_negatives():
    model, tokenizer = tiny(multi_label=True)
    texts = (
        [" ".join(VOCAB[t][:3]) for t in TOPICS]
        + [" ".join(VOCAB[t][3:]) for t in TOPICS]
        + ["the report said"]
    )
    labels = np.vstack([np.eye(3), np.eye(3), np.zeros((1, 3))])
    init_head_from_prototypes(model, tokenizer, texts, labels, {}, multi_label=True, max_length=16)
    vectors = sentence_vectors(model, tokenizer, texts, max_length=16)
    cosines = torch.nn.functional.normalize(vectors, dim=-1) @ topic_prototypes(vectors, labels, True, {}).T
    for k in range(3):
        hot = torch.as_tensor(labels[:, k] > 0.5)
        midpoint = (cosines[hot, k].mean() + cosines[~hot, k].mean()) / 2
        assert model.classifier.bias[k].item() == pytest.approx(-PROTOTYPE_SCALE * midpoint.item(), abs=1e-4)


def test_few_shot_switches_need_mean_pooling_and_a_known_head():
    with pytest.raises(ConfigError, match="argument --head: invalid choice"):
        load_config(REPO / "configs/tiny.yaml", {"head": "zeros"})
    with pytest.raises(ConfigError, match="need pooling: mean"):
        load_config(REPO / "configs/tiny.yaml", {"pooling": "cls", "contrastive_steps": 5})


@pytest.mark.slow
def test_a_few_shot_recipe_trains_for_a_fixed_budget_through_the_entry_point(tmp_path):
    data = write_jsonl(tmp_path / "few.jsonl", single_label_rows(60))
    topics = write_topics(tmp_path / "topics.yaml")
    overrides = {
        "train_files": [str(data)],
        "topics_file": str(topics),
        "output_dir": str(tmp_path / "run"),
        "validation_fraction": 0.2,
        "test_fraction": 0.0,
        "contrastive_steps": 10,
        "contrastive_learning_rate": 1e-3,
        "head": "prototypes",
        "descriptions_as_examples": True,
        "eval_strategy": "no",
        "save_strategy": "no",
        "load_best_model_at_end": False,
        "num_train_epochs": 2,
        "per_device_train_batch_size": 8,
    }
    config = load_config(REPO / "configs/tiny.yaml", overrides)
    metrics = train(config)
    # A fixed budget: two epochs of training steps and no evaluation during training.
    assert not any(key.startswith("eval_") for entry in metrics["history"] for key in entry)
    assert metrics["history"][-1]["epoch"] == pytest.approx(2.0)
    assert metrics["examples"]["train"] + metrics["examples"]["validation"] == 60
    # The saved head points at the prototypes of the fine-tuned encoder (refitted when training ended;
    # calibration may rescale it, not turn it).
    model = AutoModelForSequenceClassification.from_pretrained(config.model_dir)
    tokenizer = AutoTokenizer.from_pretrained(config.model_dir)
    data = build_dataset(DataArguments(overrides["train_files"], str(topics), 0.2, 0.0))
    texts, labels = few_shot_examples(data, with_descriptions=True)
    descriptions = sentence_vectors(model, tokenizer, [t.description for t in data.topics], max_length=64)
    prototypes = topic_prototypes(
        sentence_vectors(model, tokenizer, texts, max_length=64), labels, False, dict(enumerate(descriptions))
    )
    saved = torch.nn.functional.normalize(model.classifier.weight.detach(), dim=-1)
    assert torch.allclose(saved, prototypes, atol=1e-3)
    # The toy topics are marked by their own words: prototypes from tuned vectors get them right.
    assert metrics["validation"]["micro_f1"] > 0.8


def test_the_prototype_head_is_frozen_and_refitted_at_the_end(tmp_path):
    data = build_dataset(
        DataArguments(
            [str(write_jsonl(tmp_path / "few.jsonl", single_label_rows(30)))],
            str(write_topics(tmp_path / "topics.yaml")),
            0.2,
            0.0,
        )
    )
    config = load_config(REPO / "configs/tiny.yaml", {"head": "prototypes"})
    model, tokenizer = tiny()
    callbacks = prepare_for_few_labels(model, tokenizer, data, config)
    assert [type(c) for c in callbacks] == [RefitPrototypes]
    assert not model.classifier.weight.requires_grad and not model.classifier.bias.requires_grad
    plain = load_config(REPO / "configs/tiny.yaml")
    assert prepare_for_few_labels(*tiny(), data, plain) == []
