import json

import yaml

from tests.conftest import REPO, toy_rows, write_jsonl, write_topics
from training.artifacts import TOPICS_FILE, TRAINING_CONFIG_FILE
from training.cli import main


def test_tiny_run_saves_a_complete_model_dir(tiny_run):
    model_dir = tiny_run["model_dir"]
    for name in ("config.json", "model.safetensors", "tokenizer.json", TOPICS_FILE, TRAINING_CONFIG_FILE):
        assert (model_dir / name).is_file(), name
    config = json.loads((model_dir / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {"0": "energy", "1": "military", "2": "finance"}
    assert config["label2id"] == {"energy": 0, "military": 1, "finance": 2}
    topic_info = json.loads((model_dir / TOPICS_FILE).read_text())
    assert set(topic_info["thresholds"]) == {"energy", "military", "finance"}
    recipe = yaml.safe_load((model_dir / TRAINING_CONFIG_FILE).read_text())
    assert recipe["num_train_epochs"] == 8 and recipe["tiny_model"]["hidden_size"] == 32
    # Checkpoints only serve best-model selection and are gone afterwards; no temporary dirs remain.
    leftovers = [p.name for p in tiny_run["output_dir"].iterdir() if p.name.startswith((".", "checkpoint"))]
    assert leftovers == []


def test_tiny_run_learns_the_toy_topics(tiny_run):
    metrics = json.loads((tiny_run["output_dir"] / "metrics.json").read_text())
    assert metrics["examples"]["train"] > metrics["examples"]["test"] > 0
    for split in ("validation", "test"):
        assert set(metrics[split]["per_topic"]) == {"energy", "military", "finance"}
    # The toy topics are marked by their own words: even a tiny random model must pick them up.
    assert metrics["test"]["macro_f1"] > 0.6
    blind = metrics["blind"]
    assert blind["n"] == 40 and blind["files"] == [str(tiny_run["blind"])] and blind["macro_f1"] > 0.6
    low, high = blind["macro_f1_ci95"]
    assert low <= blind["macro_f1"] <= high
    assert blind["predicted_topics_per_snippet"] > 0 and blind["labeled_topics_per_snippet"] > 0
    assert metrics["train_seconds"] > 0


def test_training_loss_goes_down(tmp_path):
    data = write_jsonl(tmp_path / "toy.jsonl", toy_rows(200, seed=5))
    topics = write_topics(tmp_path / "topics.yaml")
    out = tmp_path / "run"
    args = ["train", "--config", str(REPO / "configs/tiny.yaml"), "--train_files", f"[{data}]"]
    args += ["--topics_file", str(topics), "--output_dir", str(out), "--num_train_epochs", "8"]
    args += ["--logging_strategy", "steps", "--logging_steps", "1", "--save_strategy", "epoch"]
    assert main(args) == 0
    losses = [h["loss"] for h in json.loads((out / "metrics.json").read_text())["history"] if "loss" in h]
    assert len(losses) >= 20
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first


def test_bad_data_fails_before_writing_anything(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "labels": ["weather"]}\n')
    topics = write_topics(tmp_path / "topics.yaml")
    out = tmp_path / "run"
    code = main(
        ["train", "--config", str(REPO / "configs/tiny.yaml"), "--train_files", f"[{bad}]"]
        + ["--topics_file", str(topics), "--output_dir", str(out)]
    )
    assert code == 2
    assert "bad.jsonl:1: unknown topic 'weather'" in capsys.readouterr().err
    assert not (out / "model").exists()


def test_unknown_override_is_reported(capsys):
    assert main(["train", "--config", str(REPO / "configs/tiny.yaml"), "--num_epochs", "2"]) == 2
    assert "unknown config key 'num_epochs'" in capsys.readouterr().err


def test_saved_model_dir_follows_the_umask(tiny_run):
    # 0022 here: the dir 0755 and every file 0644, as anything else this user writes.
    import os

    umask = os.umask(0)
    os.umask(umask)
    model_dir = tiny_run["model_dir"]
    assert model_dir.stat().st_mode & 0o777 == 0o777 & ~umask
    for path in model_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name


def test_each_blind_file_is_also_scored_on_its_own(tiny_run, tmp_path):
    from training.config import load_config
    from training.data import build_dataset, load_blind_set
    from training.evaluation import score_split, split_metrics
    from training.inference import TopicClassifier
    from training.train import blind_metrics_per_file

    lines = tiny_run["blind"].read_text().splitlines(keepends=True)
    (tmp_path / "first.jsonl").write_text("".join(lines[:25]))
    (tmp_path / "second.jsonl").write_text("".join(lines[25:]))
    overrides = ["--train_files", f"[{tiny_run['data']}]", "--topics_file", str(tiny_run["topics"])]
    data = build_dataset(load_config(REPO / "configs/tiny.yaml", overrides).data)
    # fp32: int8's activation scales follow the batch, and the slice is compared with a separate pass
    classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")
    blind = load_blind_set([str(tmp_path / "*.jsonl")], data)
    scored = score_split(classifier, blind, "both")
    per_file = blind_metrics_per_file(scored, blind["file"])
    assert {path: m["n"] for path, m in per_file.items()} == {
        str(tmp_path / "first.jsonl"): 25,
        str(tmp_path / "second.jsonl"): 15,
    }
    for path, metrics in per_file.items():
        low, high = metrics["macro_f1_ci95"]
        assert low <= metrics["macro_f1"] <= high
        # The slice scores as the file scored on its own would.
        alone = score_split(classifier, load_blind_set([path], data), path)
        assert metrics["exact_match"] == split_metrics(alone)["exact_match"]
    # One file is the whole blind set: nothing to break down.
    assert blind_metrics_per_file(scored, [str(tiny_run["blind"])] * len(scored.texts)) == {}
