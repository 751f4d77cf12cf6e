import pytest

from training.errors import DataError
from training.topics import Topic, load_topics


def test_topics_keep_the_file_order_with_descriptions_and_boundaries(tmp_path):
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  - name: b\n    description: bee\n    boundary: not c\n  - a\n")
    assert load_topics(path) == [Topic("b", "bee", "not c"), Topic("a")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("topics: []\n", "expected a non-empty list under 'topics:'"),
        ("nothing: here\n", "expected a non-empty list under 'topics:'"),
        ("topics:\n  - name: a\n  - name: a\n", "topic 'a' is listed twice"),
        ("topics:\n  - description: nameless\n", "topic #1 has no name"),
        ("topics: [a\n", "not valid YAML"),
    ],
)
def test_unusable_topic_files_are_named(tmp_path, text, message):
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_topics(path)


def test_missing_topics_file(tmp_path):
    with pytest.raises(DataError, match="topics file not found"):
        load_topics(tmp_path / "none.yaml")
