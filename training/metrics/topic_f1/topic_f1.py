"""Multi-label topic metrics as a local `evaluate` module (hub metrics cannot load offline).

Inputs are 0/1 matrices, one row per snippet and one column per topic (single-label tasks pass
one-hot rows). The numbers are training.metrics.topic_metrics (scikit-learn underneath): micro and
macro precision/recall/F1 (macro over the topics the references contain), exact match, and per topic
precision, recall, F1 and support.
"""

import datasets
import evaluate

from training.metrics import topic_metrics

_DESCRIPTION = "Micro/macro/per-topic precision, recall, F1 and exact match for multi-label 0/1 predictions."
_KWARGS = """
Args:
    predictions: list of 0/1 lists, one per snippet, one entry per topic.
    references: list of 0/1 lists, same shape.
    label_names: optional topic names for the per-topic entries (default: "0", "1", ...).
Returns:
    micro_precision, micro_recall, micro_f1, macro_precision, macro_recall, macro_f1 (over the topics
    with support), macro_topics, exact_match, per_topic: {name: {precision, recall, f1, support}}.
"""


class TopicF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
        )

    def _compute(self, predictions, references, label_names=None):
        width = len(predictions[0]) if len(predictions) else 0
        names = list(label_names) if label_names is not None else [str(i) for i in range(width)]
        return topic_metrics(predictions, references, names)
