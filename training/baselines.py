"""Two cheap baselines on the same splits, so the fine-tuned model has to justify its cost.

- "tfidf_logreg": TF-IDF over word 1-2 grams, one logistic regression per topic (one-vs-rest).
- "minilm_probe": a linear probe. Frozen all-MiniLM-L6-v2 sentence embeddings (mean-pooled and
  L2-normalised, the way the model was trained to embed sentences) and logistic regression.

Each is fitted on the train split, gets per-topic thresholds tuned on the validation split exactly
as the fine-tuned model does (training.thresholds), and is scored on the evaluated split.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline

from training.data import TopicDataset
from training.device import cpu_runs_bf16_fast
from training.metrics import topic_metrics
from training.modeling import resolve_model_path
from training.scoring import DEFAULT_THRESHOLD, decisions, reference_matrix
from training.thresholds import tune_thresholds

logger = logging.getLogger(__name__)

BASELINES = {
    "tfidf_logreg": "TF-IDF word 1-2 grams + logistic regression",
    "minilm_probe": "frozen MiniLM embeddings + logistic regression",
}
# Inverse regularisation strength, chosen on the default recipe's validation split (macro-F1 at tuned
# thresholds) from {1, 4, 10, 30, 100}: TF-IDF is flat from 4 to 100 (0.840-0.846), the probe peaks at 10.
TFIDF_C = 10.0
PROBE_C = 10.0
# Rare topics have a few dozen positives among ~1,700 rows: unweighted, TF-IDF's validation macro-F1
# drops from 0.842 to 0.798 at the same C.
CLASS_WEIGHT = "balanced"
# Length-sorted batches of 128 took 40% less CPU time than batches of 32 for the MiniLM pass.
EMBEDDING_BATCH_SIZE = 128


def _classifier(c: float, multi_label: bool):
    # liblinear fits these small problems ~10x faster than the default lbfgs, to the same macro-F1.
    # liblinear is binary only: a single-label task with 3+ classes needs lbfgs (multinomial).
    solver = "liblinear" if multi_label else "lbfgs"
    logistic = LogisticRegression(C=c, class_weight=CLASS_WEIGHT, solver=solver, max_iter=1000)
    return OneVsRestClassifier(logistic) if multi_label else logistic


def tfidf_logreg(multi_label: bool = True) -> Pipeline:
    """TF-IDF over word 1-2 grams + logistic regression (one per topic for multi-label), unfitted."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    return make_pipeline(vectorizer, _classifier(TFIDF_C, multi_label))


def minilm_embeddings(texts: list[str]) -> np.ndarray:
    """Sentence embeddings from the bundled all-MiniLM-L6-v2, frozen (no gradients, weights untouched)."""
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(resolve_model_path("all-MiniLM-L6-v2")), device="cpu")
    # bf16 autocast where the CPU runs it fast (as training.inference does): ~20% less CPU time,
    # embeddings within cosine 0.9999 of fp32's.
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_runs_bf16_fast())
    # encode() sorts texts by length so each batch pads only to its own longest, under inference_mode.
    with autocast:
        embeddings = encoder.encode(
            texts, batch_size=EMBEDDING_BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
        )
    return np.asarray(embeddings, dtype=np.float32)


def _fit_and_score(features, labels: np.ndarray, c: float, multi_label: bool) -> list[np.ndarray]:
    """features: (train, validation, evaluated) matrices -> (validation, evaluated) score matrices."""
    train, validation, evaluated = features
    model = _classifier(c, multi_label).fit(train, labels)
    return [model.predict_proba(validation), model.predict_proba(evaluated)]


def run_baselines(
    data: TopicDataset, texts: list[str], references: np.ndarray, threshold_shrinkage: float, seed: int
) -> dict[str, dict]:
    """Fit both baselines on `data`'s train split, tune thresholds on its validation split, and
    evaluate them on (texts, references).

    references: 0/1 (snippets x topics) in `data`'s topic order. Returns {baseline: topic_metrics +
    description, thresholds and seconds taken}.
    """
    train, validation = data.splits["train"], data.splits["validation"]
    labels = np.asarray(train["labels"])
    val_refs = reference_matrix(np.asarray(validation["labels"]), len(data.topics), data.multi_label)
    split_texts = (train["text"], validation["text"], list(texts))

    def tfidf_scores():
        model = tfidf_logreg(data.multi_label).fit(split_texts[0], labels)
        return [model.predict_proba(split_texts[1]), model.predict_proba(split_texts[2])]

    def probe_scores():
        # One embedding pass over every text: length-sorting across all splits pads least.
        embedded = minilm_embeddings([t for split in split_texts for t in split])
        bounds = np.cumsum([len(split) for split in split_texts])[:-1]
        return _fit_and_score(np.split(embedded, bounds), labels, PROBE_C, data.multi_label)

    results = {}
    for name, scores_of in (("tfidf_logreg", tfidf_scores), ("minilm_probe", probe_scores)):
        started = time.time()
        val_scores, eval_scores = scores_of()
        if data.multi_label:
            thresholds = tune_thresholds(val_scores, val_refs, data.topic_names, threshold_shrinkage, seed)
        else:
            thresholds = {}
        vector = [thresholds.get(n, DEFAULT_THRESHOLD) for n in data.topic_names]
        metrics = topic_metrics(
            decisions(eval_scores, data.multi_label, vector), references, data.topic_names
        )
        results[name] = {
            "description": BASELINES[name],
            "seconds": round(time.time() - started, 1),
            "thresholds": thresholds,
            **metrics,
        }
        logger.info(
            "baseline %s: macro-F1 %.3f (%.1f s)", name, metrics["macro_f1"], results[name]["seconds"]
        )
    return results
