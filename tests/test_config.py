from pathlib import Path

import pytest

from training.config import ConfigError, load_config, parse_overrides

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads(path):
    config = load_config(path)
    assert config.name == path.stem
    assert isinstance(config.training.bf16, bool)  # "auto" is resolved against this CPU
    assert config.model.pooling in ("mean", "cls")
    assert config.source["output_dir"] == config.training.output_dir


def test_default_config_is_the_ten_topics_on_bundled_minilm():
    config = load_config(REPO / "configs/default.yaml")
    assert config.model.model_name_or_path == "all-MiniLM-L6-v2"
    assert config.training.output_dir == "runs/default"
    assert config.training.metric_for_best_model == "macro_f1"
    assert config.training.load_best_model_at_end


def test_overrides_are_parsed_as_yaml_and_win():
    config = load_config(
        REPO / "configs/tiny.yaml",
        ["--num_train_epochs", "3", "--train_files=[a.jsonl, b.csv]", "--bf16", "false", "--pooling", "cls"],
    )
    assert config.training.num_train_epochs == 3
    assert config.data.train_files == ["a.jsonl", "b.csv"]
    assert config.training.bf16 is False
    assert config.model.pooling == "cls"


def test_exponent_without_a_dot_is_a_number_in_files_and_overrides(tmp_path):
    # PyYAML's YAML 1.1 reads `5e-5` as a string, which only failed inside the optimizer.
    path = tmp_path / "recipe.yaml"
    path.write_text("model_name_or_path: all-MiniLM-L6-v2\nhead_learning_rate: 3e-3\n")
    config = load_config(path, ["--learning_rate", "5e-5", "--weight_decay=1E-2"])
    assert config.model.head_learning_rate == pytest.approx(3e-3)
    assert config.training.learning_rate == pytest.approx(5e-5)
    assert config.training.weight_decay == pytest.approx(1e-2)
    assert parse_overrides(["--output_dir", "runs/1e5x"]) == {"output_dir": "runs/1e5x"}


def test_only_true_and_false_are_booleans():
    # YAML 1.1 would turn `--eval_strategy no` into False, which TrainingArguments rejects.
    assert parse_overrides(["--eval_strategy", "no", "--bf16", "false", "--x", "True", "--y", "off"]) == {
        "eval_strategy": "no",
        "bf16": False,
        "x": True,
        "y": "off",
    }
    config = load_config(REPO / "configs/tiny.yaml", ["--eval_strategy", "no", "--load_best_model_at_end", "false"])
    assert config.training.eval_strategy == "no"


def test_unknown_key_in_file_is_an_error_with_a_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model_name_or_path: all-MiniLM-L6-v2\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'learning_rat'; did you mean learning_rate"):
        load_config(path)


def test_unknown_override_key_is_an_error():
    with pytest.raises(ConfigError, match="override: unknown config key 'epochs'"):
        load_config(REPO / "configs/tiny.yaml", ["--epochs", "3"])


def test_override_without_value_is_an_error():
    with pytest.raises(ConfigError, match="has no value"):
        parse_overrides(["--seed"])


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_bad_pooling_is_an_error():
    with pytest.raises(ConfigError, match="pooling must be"):
        load_config(REPO / "configs/tiny.yaml", ["--pooling", "max"])
