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
    assert config.training.head_learning_rate == pytest.approx(3e-3)
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


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--num_train_epochs", "abc"], "argument --num_train_epochs.*invalid float value: 'abc'"),
        (["--num_train_epochs", "0"], "num_train_epochs must be > 0"),
        (["--num_train_epochs", "-2"], "num_train_epochs must be > 0"),
        (["--learning_rate", "-1"], "learning_rate must be > 0, got -1"),
        (["--learning_rate", "fast"], "argument --learning_rate.*invalid float value: 'fast'"),
        (["--per_device_train_batch_size", "0"], "per_device_train_batch_size must be at least 1"),
        (["--validation_fraction", "abc"], "argument --validation_fraction.*invalid float value"),
        (["--test_fraction", "0.9"], "validation_fraction \\+ test_fraction must leave rows"),
        (["--max_length", "-5"], "max_length must be at least 1, got -5"),
        (["--pos_weight", "sometimes"], r"--pos_weight.*invalid choice: 'sometimes' \(choose from 'sqrt', 'cbrt'"),
        (["--threshold_shrinkage", "7"], "threshold_shrinkage must be in \\[0, 1\\], got 7"),
        (["--pooling", "max"], "argument --pooling.*invalid choice: 'max'"),
        (["--bf16", "maybe"], "bf16 must be auto, true or false"),
        (["--seed", "[1, 2]"], "seed takes one value"),
        (["--lr_scheduler_type", "wobbly"], "argument --lr_scheduler_type.*invalid choice"),
        (["--push_to_hub", "true"], "push_to_hub: this package never reaches a model hub"),
        (["--report_to", "wandb"], "report_to must be none"),
    ],
)
def test_bad_override_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=f"^override: .*{message}"):
        load_config(REPO / "configs/tiny.yaml", override)


def test_bad_value_in_a_recipe_names_the_file(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("model_name_or_path: all-MiniLM-L6-v2\nnum_train_epochs: abc\n")
    with pytest.raises(ConfigError, match=r"recipe.yaml: argument --num_train_epochs.*invalid float value: 'abc'"):
        load_config(path)


def test_an_override_can_mend_nothing_the_recipe_gets_wrong(tmp_path):
    # The recipe is checked on its own first, so its error names the file even when an override follows.
    path = tmp_path / "recipe.yaml"
    path.write_text("model_name_or_path: all-MiniLM-L6-v2\nmax_length: -1\n")
    with pytest.raises(ConfigError, match=r"recipe.yaml: max_length must be at least 1"):
        load_config(path, ["--max_length", "64"])


def test_every_key_is_typed_and_listed_in_help():
    from training.config import RecipeParser

    text = RecipeParser().format_help()
    for key in ("--pos_weight {sqrt,cbrt,none}", "--head_learning_rate", "--eval_files", "--train_files", "--optim"):
        assert key in text
    config = load_config(REPO / "configs/tiny.yaml", ["--pos_weight", "cbrt", "--optim", "sgd"])
    assert config.training.pos_weight == "cbrt" and config.training.optim == "sgd"


def test_bad_value_on_the_command_line_exits_2_and_writes_nothing(tmp_path, capsys):
    from training.cli import main

    out = tmp_path / "run"
    code = main(["train", "--config", str(REPO / "configs/tiny.yaml"), "--output_dir", str(out), "--max_length", "-5"])
    assert code == 2
    assert "override: max_length must be at least 1, got -5" in capsys.readouterr().err
    assert not out.exists()


def test_train_help_lists_the_recipe_keys(capsys):
    from training.cli import main

    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--resume" in text and "--threshold_shrinkage" in text and "--learning_rate" in text
