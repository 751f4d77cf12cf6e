"""Data-parallel training through the real launcher (torchrun, DDP over gloo on CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, toy_rows, write_jsonl, write_topics
from training import TopicClassifier


@pytest.mark.slow
def test_two_process_training_saves_one_model_in_the_usual_format(tmp_path, tiny_run):
    data = write_jsonl(tmp_path / "toy.jsonl", toy_rows())
    topics = write_topics(tmp_path / "topics.yaml")
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "training", "train"]
    cmd += ["--config", str(REPO / "configs/tiny.yaml"), "--train_files", f"[{data}]", "--topics_file", str(topics)]
    cmd += ["--output_dir", str(out), "--num_train_epochs", "8", "--eval_files", f"[{tiny_run['blind']}]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    single = json.loads((tiny_run["output_dir"] / "metrics.json").read_text())
    ddp = json.loads((out / "metrics.json").read_text())
    assert ddp.keys() == single.keys()
    assert ddp["examples"] == single["examples"]  # every rank saw the same split
    assert sorted(p.name for p in (out / "model").iterdir()) == sorted(
        p.name for p in tiny_run["model_dir"].iterdir()
    )
    assert [p.name for p in out.iterdir() if p.name.startswith((".", "checkpoint"))] == []
    prediction = TopicClassifier.from_pretrained(out / "model").predict("oil gas pipeline crude refinery")
    assert set(prediction.scores) == {"energy", "military", "finance"}
    assert "energy" in prediction.labels
