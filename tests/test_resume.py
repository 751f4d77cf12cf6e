"""Training that can be killed and resumed, and runs that must not replace a saved model."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, SCORE_TOLERANCE, tiny_train_args, toy_rows, write_jsonl, write_topics
from training.cli import main
from training.inference import TopicClassifier

TEXTS = [
    "oil gas pipeline crude refinery",
    "troops tanks drills missiles navy",
    "bank bonds currency loan rates",
    "the weather was fine on monday",
]


def recipe_args(tmp_path, out, *extra) -> list[str]:
    data = tmp_path / "toy.jsonl"
    if not data.exists():
        write_jsonl(data, toy_rows())
        write_topics(tmp_path / "topics.yaml")
    return tiny_train_args(
        data, tmp_path / "topics.yaml", out, "--num_train_epochs", "10", "--early_stopping_patience", "20", *extra
    )


def kill_after_checkpoint(args: list[str], out, min_step: int) -> None:
    """Run `python -m training <args>` and SIGKILL it once a complete checkpoint of min_step or later exists."""
    process = subprocess.Popen(
        [sys.executable, "-m", "training", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            steps = [int(p.parent.name.split("-")[1]) for p in out.glob("checkpoint-*/trainer_state.json")]
            if steps and max(steps) >= min_step:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run finished before it could be killed"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_result(tmp_path):
    whole = tmp_path / "whole"
    assert main(recipe_args(tmp_path, whole)) == 0

    killed = tmp_path / "killed"
    kill_after_checkpoint(recipe_args(tmp_path, killed), killed, min_step=30)
    assert not (killed / "model").exists()
    # A fresh start over an interrupted run's checkpoints is refused, so none is lost by mistake.
    assert main(recipe_args(tmp_path, killed)) == 2
    assert main(recipe_args(tmp_path, killed, "--resume")) == 0

    history = {run: json.loads((run / "metrics.json").read_text())["history"] for run in (whole, killed)}
    assert history[killed][-1]["step"] == history[whole][-1]["step"]
    assert [h["epoch"] for h in history[killed] if "eval_macro_f1" in h][-1] == 10
    assert [p.name for p in killed.iterdir() if p.name.startswith(("checkpoint", "."))] == []
    expected = TopicClassifier.from_pretrained(whole / "model", precision="fp32").predict(TEXTS)
    resumed = TopicClassifier.from_pretrained(killed / "model", precision="fp32").predict(TEXTS)
    for a, b in zip(resumed, expected, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=SCORE_TOLERANCE)


def test_resume_without_a_checkpoint_is_an_error(tmp_path, capsys):
    assert main(recipe_args(tmp_path, tmp_path / "fresh", "--resume")) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_a_run_killed_while_saving_leaves_nothing_the_next_run_keeps(tiny_run, tmp_path):
    out = tmp_path / "run"
    stale = [out / ".model.tmp-k1ll3d", out / ".report.tmp-abc", out / ".model.old"]
    for path in stale:
        (path / "sub").mkdir(parents=True)
    (out / ".metrics.json.tmp").write_text("{")
    assert main(recipe_args(tmp_path, out, "--num_train_epochs", "4")) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model", "report"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max_steps", "1", "--learning_rate", "1e-9", "--head_learning_rate", "1e-9"], "below chance"),
    ],
)
def test_a_run_that_did_not_learn_keeps_the_previous_model(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main(recipe_args(tmp_path, out, "--num_train_epochs", "6")) == 0
    weights = (out / "model" / "model.safetensors").read_bytes()
    metrics = (out / "metrics.json").read_text()
    assert main(recipe_args(tmp_path, out, *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and f"{out / 'model'} was left as it was" in err
    assert (out / "model" / "model.safetensors").read_bytes() == weights
    assert (out / "metrics.json").read_text() == metrics
    assert [p.name for p in out.iterdir() if p.name.startswith(("checkpoint", "."))] == []
