"""Multi-label topic metrics as a local `evaluate` module (hub metrics cannot load offline).

Inputs are 0/1 matrices, one row per snippet and one column per topic (single-label tasks pass
one-hot rows). Returns micro and macro precision/recall/F1, exact-match accuracy (every topic of
the snippet right, including "no topic"), and the same three numbers plus support per topic.
Macro averages run over the topics the references contain ("macro_topics" of them): a file without
any snippet about a topic says nothing about how well that topic is found.
"""

import datasets
import evaluate
import numpy as np

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


def _prf(tp, fp, fn):
    # An empty denominator scores 0, as scikit-learn does with zero_division=0.
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp, dtype=float), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp, dtype=float), where=(tp + fn) > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return precision, recall, f1


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
        pred = np.asarray(predictions, dtype=int)
        ref = np.asarray(references, dtype=int)
        if pred.shape != ref.shape or pred.ndim != 2:
            raise ValueError(f"predictions {pred.shape} and references {ref.shape} must be equal 2-D shapes")
        names = list(label_names) if label_names is not None else [str(i) for i in range(pred.shape[1])]
        tp = (pred & ref).sum(axis=0)
        fp = (pred & (1 - ref)).sum(axis=0)
        fn = ((1 - pred) & ref).sum(axis=0)
        precision, recall, f1 = _prf(tp, fp, fn)
        micro_p, micro_r, micro_f1 = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
        present = ref.sum(axis=0) > 0
        if not present.any():  # nothing to find anywhere: average over every topic (all 0)
            present[:] = True
        return {
            "micro_precision": float(micro_p[0]),
            "micro_recall": float(micro_r[0]),
            "micro_f1": float(micro_f1[0]),
            "macro_precision": float(precision[present].mean()),
            "macro_recall": float(recall[present].mean()),
            "macro_f1": float(f1[present].mean()),
            "macro_topics": int(present.sum()),
            "exact_match": float((pred == ref).all(axis=1).mean()),
            "per_topic": {
                name: {
                    "precision": float(precision[i]),
                    "recall": float(recall[i]),
                    "f1": float(f1[i]),
                    "support": int(ref[:, i].sum()),
                }
                for i, name in enumerate(names)
            },
        }
