"""Sampled Shapley explanations: a topic's top words are the ones that name it."""

import pytest
from conftest import VOCAB

from training.explain import explain
from training.inference import TopicClassifier


@pytest.fixture(scope="module")
def toy(tiny_run) -> TopicClassifier:
    return TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")


def test_the_toy_topics_words_drive_them(toy):
    text = "the report said troops and tanks moved on monday while officials met"
    e = toy.explain(text)
    assert "military" in e.labels
    assert set(e.top_words("military", 2)) == {"troops", "tanks"}
    # Offsets point at the words in the text; every word is attributed for every topic.
    for topic in toy.topics:
        assert sorted(a.word for a in e.words[topic]) == sorted(text.split())
        assert all(text[a.start : a.end] == a.word for a in e.words[topic])


def test_words_of_two_topics_split_between_them(toy):
    e = toy.explain("oil pipeline deal financed by bank bonds after the week")
    assert set(e.top_words("energy", 2)) <= set(VOCAB["energy"])
    assert set(e.top_words("finance", 2)) <= set(VOCAB["finance"])


@pytest.mark.parametrize("budget", [40, 320])
def test_the_weights_add_up_to_the_logit_of_the_text_minus_the_logit_of_no_words(toy, budget):
    # Each sampled order's gains telescope from the empty text to the whole one, whatever the budget.
    text = "troops and tanks moved while the bank sold bonds on monday"
    e = toy.explain(text, permutation_budget=budget)
    full, empty = toy.logits([text, ""])
    for j, topic in enumerate(toy.topics):
        assert sum(a.weight for a in e.words[topic]) == pytest.approx(full[j] - empty[j], abs=2e-3)


def test_a_text_without_words_has_nothing_to_attribute(toy):
    e = explain(toy, "...")
    assert all(words == [] for words in e.words.values())


def test_explain_wants_a_string(toy):
    with pytest.raises(TypeError, match="text is list, not str"):
        toy.explain(["a", "list"])


# Sentences written for this test, each naming one topic in words a reader would underline.
NAMED = [
    (
        "Hackers tied to a state intelligence agency stole thousands of emails from a ministry.",
        "cyber-espionage",
        {"hackers", "intelligence", "stole", "agency"},
    ),
    (
        "Washington imposed sanctions on three shipping firms accused of evading the embargo.",
        "sanctions",
        {"sanctions", "embargo", "evading", "imposed"},
    ),
    (
        "The navy deployed two destroyers and a submarine for live-fire drills off the coast.",
        "military",
        {"navy", "destroyers", "submarine", "drills", "live-fire"},
    ),
]


@pytest.mark.needs_trained_model
@pytest.mark.parametrize(("text", "topic", "naming"), NAMED)
def test_the_default_models_top_words_name_the_topic(default_model_dir, text, topic, naming):
    e = TopicClassifier.from_pretrained(default_model_dir).explain(text)
    assert topic in e.labels
    # Two of the three strongest words name the topic (leave-one-out occlusion managed one of three here: with
    # five military words, none is missed much when cut, and "and" and "for" outranked "navy").
    assert len({w.lower() for w in e.top_words(topic, 3)} & naming) >= 2, e.top_words(topic, 3)
