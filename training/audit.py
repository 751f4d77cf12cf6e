"""Find likely label errors: out-of-fold predictions + cleanlab's confident-learning filter.

    python -m training audit --config configs/default.yaml [--folds 5] [--output runs/audit]

Every row of the recipe's labeled files gets a score from the TF-IDF + logistic-regression baseline
(training.baselines) trained without it (k-fold cross-validation); cleanlab ranks the rows whose
given labels disagree most with those scores. The flagged rows go to `<output>/label_issues.jsonl`,
worst first, with the given labels, the topics the model would add or drop, and where the row lives
(file:line), for a person to
fix or confirm.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from training.artifacts import write_json_atomic
from training.baselines import tfidf_logreg
from training.data import expand_files, read_examples, resolve_topics
from training.metrics import topic_metrics


def out_of_fold_scores(texts: list[str], labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(rows x topics) probabilities, each row scored by a model trained without it."""
    scores = np.zeros(labels.shape, dtype=float)
    for train_idx, held_idx in KFold(folds, shuffle=True, random_state=seed).split(texts):
        model = tfidf_logreg(multi_label=True).fit([texts[i] for i in train_idx], labels[train_idx])
        scores[held_idx] = model.predict_proba([texts[i] for i in held_idx])
    return scores


def audit(
    train_files: list[str], topics_file: str | None, output: str | Path, folds: int = 5, seed: int = 0
) -> dict:
    from cleanlab.filter import find_label_issues

    examples, multi_label = read_examples(expand_files(train_files))
    if not multi_label:
        raise ValueError("audit handles multi-label data ('labels' lists)")
    names = [t.name for t in resolve_topics(examples, topics_file, multi_label)]
    labels = np.array([[int(n in e.labels) for n in names] for e in examples])
    texts = [e.text for e in examples]
    scores = out_of_fold_scores(texts, labels, folds, seed)
    flagged = find_label_issues(
        labels=[[j for j, n in enumerate(names) if n in e.labels] for e in examples],
        pred_probs=scores,
        multi_label=True,
        return_indices_ranked_by="self_confidence",
    )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with (output / "label_issues.jsonl").open("w", encoding="utf-8") as f:
        for i in flagged:
            e, row = examples[i], scores[i]
            given = set(e.labels)
            record = {
                "where": e.where,
                "id": e.id,
                "text": e.text,
                "labels": list(e.labels),
                "model_would_add": [n for j, n in enumerate(names) if n not in given and row[j] >= 0.5],
                "model_would_drop": [n for j, n in enumerate(names) if n in given and row[j] < 0.5],
                "scores": {n: round(float(s), 3) for n, s in zip(names, row, strict=True)},
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    predicted = (scores >= 0.5).astype(int)
    summary = {
        "rows": len(examples),
        "flagged": len(flagged),
        "flagged_rate": round(len(flagged) / len(examples), 4),
        "out_of_fold_macro_f1": round(topic_metrics(predicted, labels, names)["macro_f1"], 4),
        "per_topic_flagged": {
            n: int(sum(labels[i, j] or predicted[i, j] for i in flagged)) for j, n in enumerate(names)
        },
    }
    write_json_atomic(output / "summary.json", summary)
    return summary
