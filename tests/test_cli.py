"""The command line and the Makefile targets around it, run as a user runs them."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.mark.slow
def test_stdin_gives_one_output_line_per_input_line(tiny_run):
    lines = ["oil gas pipeline crude", "", "troops tanks drills", "   ", "bank bonds currency"]
    result = run(
        [sys.executable, "-m", "training", "predict", "--model", str(tiny_run["model_dir"])],
        input="\n".join(lines) + "\n",
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["text"] for o in out] == lines
    assert [o["labels"] is None for o in out] == [False, True, False, True, False]


@pytest.mark.slow
def test_make_predict_keeps_quotes_in_the_text(tiny_run):
    text = """He said "no" to the $5bn oil deal, didn't he?"""
    result = run(["make", "-s", "predict", f"MODEL={tiny_run['model_dir']}", f"TEXT={text}"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["text"] == text


def test_errors_are_one_line_and_exit_2(tmp_path):
    result = run([sys.executable, "-m", "training", "predict", "--model", str(tmp_path / "missing"), "--text", "x"])
    assert result.returncode == 2
    assert result.stderr.startswith("error: no trained model at") and "Traceback" not in result.stderr
