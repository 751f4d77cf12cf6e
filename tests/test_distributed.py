"""Data-parallel training through the real launcher (torchrun, DDP over gloo on CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, toy_rows, write_jsonl, write_topics
from tests.test_serve import free_port
from training import TopicClassifier

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
# One thread per process: the processes share the machine's cores, and gloo's all-reduce waits on the slowest.
TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tiny_training(tmp_path: Path, tiny_run: dict) -> list[str]:
    """`-m training train` with the arguments tiny_run trained with in one process (configs/tiny.yaml on the toy
    data), into tmp_path/"out"; the data files are written once, here, for every process to read."""
    data = write_jsonl(tmp_path / "toy.jsonl", toy_rows())
    topics = write_topics(tmp_path / "topics.yaml")
    args = ["-m", "training", "train", "--config", str(REPO / "configs/tiny.yaml"), "--train_files", f"[{data}]"]
    args += ["--topics_file", str(topics), "--output_dir", str(tmp_path / "out"), "--num_train_epochs", "8"]
    return [*args, "--eval_files", f"[{tiny_run['blind']}]"]


def assert_saved_like_one_process(out: Path, tiny_run: dict) -> None:
    """One model dir and metrics.json in the one-process format, no leftovers, and a model that predicts."""
    single = json.loads((tiny_run["output_dir"] / "metrics.json").read_text())
    ddp = json.loads((out / "metrics.json").read_text())
    assert ddp.keys() == single.keys()
    assert ddp["examples"] == single["examples"]  # every rank saw the same split
    assert sorted(p.name for p in (out / "model").iterdir()) == sorted(p.name for p in tiny_run["model_dir"].iterdir())
    assert [p.name for p in out.iterdir() if p.name.startswith((".", "checkpoint"))] == []
    prediction = TopicClassifier.from_pretrained(out / "model").predict("oil gas pipeline crude refinery")
    assert set(prediction.scores) == {"energy", "military", "finance"}
    assert "energy" in prediction.labels


@pytest.mark.slow
def test_two_process_training_saves_one_model_in_the_usual_format(tmp_path, tiny_run):
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node", "2", *tiny_training(tmp_path, tiny_run)]
    result = subprocess.run(cmd, cwd=REPO, env=TORCHRUN_ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_saved_like_one_process(tmp_path / "out", tiny_run)


@pytest.mark.slow
def test_two_node_training_saves_one_model_in_the_usual_format(tmp_path, tiny_run):
    # README's two-node command, both "nodes" on this machine: one process each, rendezvous on a loopback port.
    # (No --node_rank: the c10d rendezvous assigns ranks itself, and torchrun warns that it ignores one.)
    launcher = [TORCHRUN, "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d"]
    launcher += ["--rdzv_endpoint", f"127.0.0.1:{free_port()}"]
    training = tiny_training(tmp_path, tiny_run)
    logs = [(tmp_path / f"node{i}.out", tmp_path / f"node{i}.err") for i in (0, 1)]
    nodes = []
    for out, err in logs:
        # Output to files, not pipes: a node blocked on a full pipe would stall the other in the all-reduce.
        with out.open("w") as stdout, err.open("w") as stderr:
            nodes.append(
                subprocess.Popen([*launcher, *training], cwd=REPO, env=TORCHRUN_ENV, stdout=stdout, stderr=stderr)
            )
    try:
        for node, (_, err) in zip(nodes, logs, strict=True):
            assert node.wait(timeout=600) == 0, err.read_text()[-3000:]
    finally:
        for node in nodes:  # the other node of a failed run would wait for it until its own timeout
            if node.poll() is None:
                node.terminate()  # torchrun passes SIGTERM on to its worker
                node.wait(timeout=60)
    # Global rank 0 alone scores, saves and says so; which node it lands on is the rendezvous' choice.
    assert sum("saved " in out.read_text() for out, _ in logs) == 1
    assert_saved_like_one_process(tmp_path / "out", tiny_run)
