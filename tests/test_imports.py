"""The serving side loads only what serving needs; the data side never loads torch (issue 13)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

# Not `accelerate`: transformers 5 loads it itself to build any model (modeling_bert -> activations ->
# core_model_loading -> integrations.accelerate), so no serving code that uses transformers can avoid it.
TRAINING_MACHINERY = (
    "transformers.training_args",
    "transformers.trainer",
    "sklearn",
    "datasets",
    "training.config",
    "training.data",
    "training.thresholds",
    "training.trainer",
    "training.train",
)


def loaded_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "from training import predict",
        "import training.inference",
        "import training.serve",
        "import training.predict_file",
    ],
)
def test_serving_never_loads_training_machinery(statement):
    modules = loaded_after(statement)
    loaded = [m for m in TRAINING_MACHINERY if m in modules]
    assert loaded == [], f"{statement} loads {loaded}"


def test_the_data_side_never_loads_torch_or_the_model():
    modules = loaded_after("import training.data, training.readers, training.topics")
    assert "torch" not in modules and "training.modeling" not in modules and "transformers" not in modules
