"""A distilled student: half of the teacher's layers, trained on the teacher's scores, for throughput.

    make distill                       # runs/default/model -> runs/distill/model (configs/distill.yaml)
    python -m training distill --teacher runs/default/model --config configs/distill.yaml

The student starts as the teacher with every other encoder layer kept (3 of MiniLM's 6: layers 0, 2
and 4), its embeddings, pooler and head included, so it begins close to the teacher rather than from
scratch. It is then fine-tuned with the ordinary recipe (training.train) on the training split, with
the teacher's calibrated scores as soft targets in place of the 0/1 labels: the teacher's "70% trade"
teaches more than a bare yes. Thresholds, calibration, the test split, the blind set and the report come
from the labels, exactly as for the teacher, so the two models' numbers compare directly; the student is
a normal model dir that predict(), the server and every backend load. Keep it where its blind-set
macro-F1 is within 0.01 of the teacher's (README, "Fast inference").
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from training.config import Config
from training.inference import TopicClassifier, find_model_dir
from training.train import train

logger = logging.getLogger(__name__)

# Every other layer: the student keeps low, middle and high features alike.
KEEP_EVERY = 2


def student_init(teacher_dir: str | Path, target: str | Path) -> Path:
    """Write the teacher with every other encoder layer dropped to `target` (a model dir to fine-tune)."""
    model = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    layers = model.base_model.encoder.layer
    kept = list(range(0, len(layers), KEEP_EVERY))
    model.base_model.encoder.layer = nn.ModuleList(layers[i] for i in kept)
    model.config.num_hidden_layers = len(kept)
    target = Path(target)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(teacher_dir).save_pretrained(target)
    logger.info("student: teacher layers %s of %d", kept, len(layers))
    return target


def distill(config: Config, teacher_dir: str | Path | None = None) -> dict:
    """Build the student from the teacher, train it on the teacher's scores, save and evaluate it like
    `make train` does; returns its metrics, with the teacher's own (its metrics.json) under "teacher"."""
    teacher_dir = find_model_dir(teacher_dir)
    student_init(teacher_dir, config.model.model_name_or_path)
    teacher = TopicClassifier.from_pretrained(teacher_dir)
    metrics = train(config, teacher=teacher)
    teacher_metrics = teacher_dir.parent / "metrics.json"
    if teacher_metrics.is_file():
        metrics["teacher"] = json.loads(teacher_metrics.read_text(encoding="utf-8"))
    return metrics
