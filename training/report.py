"""The evaluation report: what an analyst looks at before trusting the tags.

    <report dir>/
      report.md          per-topic table, baselines side by side, calibration, worst errors
      pr_curves.png      precision-recall curve per topic, the chosen threshold marked
      confusion.png      true topic vs predicted topic
      scores.png         score histogram: snippet-topic pairs that are true vs not
      reliability.png    mean score vs share true, per score bin (calibration at a glance)

`make train` writes it to <output_dir>/report/ for the test split; `make evaluate` beside its metrics
JSON for any labeled file. Every number in report.md is printed from the same dicts that are written
to that JSON (metrics.json after training), so the two always agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve

from training.artifacts import atomic_dir
from training.metrics import ECE_BINS, reliability_bins
from training.scoring import decisions

REPORT_DIR = "report"  # under a training run's output_dir
REPORT_FILE = "report.md"
PLOTS = {
    "pr_curves.png": "Precision-recall curve per topic; the dot is the tuned threshold",
    "confusion.png": "True topic (rows) vs predicted topic (columns): hits on the diagonal, wrong tags off",
    "scores.png": "Scores of snippet-topic pairs that are true vs not",
    "reliability.png": "Calibration: mean score vs share of true per score bin",
}
# Enough to see a pattern in a topic's mistakes without drowning the report.
WORST_ERRORS_PER_TOPIC = 5
# The worst errors are ~80 snippets to explain: half the default budget halves that part of `make train` (~50 s ->
# ~25 s on 2 cores with bf16), and the top words still agree ~90% with the full budget's (measured on the blind set).
REPORT_PERMUTATION_BUDGET = 160
# Words shown beside each worst error: enough to see why, short enough for a table cell.
EXPLAINED_WORDS = 3
SNIPPET_CHARS = 220
NO_TOPIC = "(no topic)"


@dataclass
class ScoredSplit:
    """One labeled set scored by the model: what the plots and error lists are drawn from."""

    name: str  # e.g. "test split of the default recipe", "eval/my-set.jsonl"
    texts: list[str]
    scores: np.ndarray  # (snippets x topics), the model's (calibrated) scores
    references: np.ndarray  # (snippets x topics), 0/1; one-hot for single-label models
    topics: list[str]
    thresholds: np.ndarray  # per topic; unused by single-label models (arg-max)
    multi_label: bool

    @property
    def predictions(self) -> np.ndarray:
        return decisions(self.scores, self.multi_label, self.thresholds)

    def subset(self, rows: list[int], name: str) -> ScoredSplit:
        """These rows only, already scored: no second pass through the model."""
        return replace(
            self,
            name=name,
            texts=[self.texts[i] for i in rows],
            scores=self.scores[rows],
            references=self.references[rows],
        )


def write_report(
    report_dir: str | Path,
    title: str,
    split: ScoredSplit,
    metrics: dict,
    baselines: dict[str, dict],
    temperature: dict | None,
    explain: Callable | None = None,
) -> Path:
    """Write report.md and the plots. `metrics` is evaluation.score_metrics of `split`; `baselines` is
    baselines.run_baselines on the same rows ({} when they could not be run); `temperature` is the
    calibration record saved with the model (None for models saved without one); `explain` (a
    TopicClassifier's explain method) adds the words behind each worst error."""
    predictions = split.predictions
    sections = [
        f"# {title}\n\nEvaluated on {split.name}: {len(split.texts)} snippets, {len(split.topics)} topics.",
        _summary_section(metrics, baselines),
        _topic_section(metrics, split),
        _baseline_section(metrics, baselines),
        _calibration_section(metrics, temperature),
        "## Plots\n\n" + "\n\n".join(f"![{caption}]({name})" for name, caption in PLOTS.items()),
        _errors_section(split, predictions, explain),
    ]
    # All or nothing: a crash half-way never leaves a report whose plots belong to another run.
    with atomic_dir(report_dir) as tmp:
        _save(_pr_curves(split, metrics), tmp / "pr_curves.png")
        _save(_confusion(split, predictions), tmp / "confusion.png")
        _save(_score_histogram(split), tmp / "scores.png")
        _save(_reliability(split), tmp / "reliability.png")
        (tmp / REPORT_FILE).write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return Path(report_dir) / REPORT_FILE


# ---- tables (the model card prints the same ones) ------------------------------------------------


def fmt(value: float) -> str:
    """How every metric is printed (tests compare report and card against metrics.json with this)."""
    return f"{value:.3f}"


def fmt_threshold(value: float) -> str:
    return f"{value:.4g}"


def _versus(ours: float, theirs: float) -> str:
    """A baseline's number and, in brackets, how far the fine-tuned model is ahead of it."""
    return f"{fmt(theirs)} ({ours - theirs:+.3f})"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def metrics_table(metrics: dict, thresholds: dict[str, float] | None) -> str:
    """Per topic: support, precision, recall, F1, threshold (None: arg-max), ECE; then micro, macro
    and exact-match rows."""
    header = ["topic", "support", "precision", "recall", "F1", "threshold", "ECE"]
    rows = []
    for name, m in metrics["per_topic"].items():
        threshold = fmt_threshold(thresholds[name]) if thresholds is not None else "arg-max"
        prf = [fmt(m[key]) for key in ("precision", "recall", "f1")]
        rows.append([name, str(m["support"]), *prf, threshold, fmt(m["ece"])])
    for avg in ("micro", "macro"):
        prf = [fmt(metrics[f"{avg}_{key}"]) for key in ("precision", "recall", "f1")]
        rows.append([f"**{avg}**", "", *prf, "", fmt(metrics["macro_ece"]) if avg == "macro" else ""])
    rows.append(["**exact match**", "", "", "", fmt(metrics["exact_match"]), "", ""])
    return markdown_table(header, rows)


def interval_line(metrics: dict) -> str:
    """Macro-F1 with its bootstrap interval, and topics per snippet predicted against labeled."""
    low, high = metrics["macro_f1_ci95"]
    covered = len(metrics["per_topic"])
    scope = "" if metrics["macro_topics"] == covered else f" over the {metrics['macro_topics']} topics present here"
    return (
        f"Macro-F1 {fmt(metrics['macro_f1'])}{scope} (bootstrap 95% interval {fmt(low)}-{fmt(high)}); "
        f"topics per snippet: predicted {metrics['predicted_topics_per_snippet']:.2f}, "
        f"labeled {metrics['labeled_topics_per_snippet']:.2f}."
    )


def summary_table(metrics: dict, baselines: dict[str, dict]) -> str:
    """The fine-tuned model and each baseline: micro-F1, macro-F1, exact match (baselines with deltas)."""
    keys = ("micro_f1", "macro_f1", "exact_match")
    rows = [["fine-tuned model"] + [fmt(metrics[k]) for k in keys]]
    rows += [[b["description"]] + [_versus(metrics[k], b[k]) for k in keys] for b in baselines.values()]
    return markdown_table(["model", "micro-F1", "macro-F1", "exact match"], rows)


def calibration_table(temperature: dict, metrics: dict | None = None) -> str:
    """Per topic: temperature, validation ECE before and after it, and (given metrics) ECE on those rows."""
    header = ["topic", "temperature", "validation ECE before", "validation ECE after"]
    rows = [
        [name, f"{t:.3g}"] + [fmt(temperature[f"validation_ece_{when}"][name]) for when in ("before", "after")]
        for name, t in temperature["values"].items()
    ]
    if metrics is not None:
        header.append("ECE here")
        for row in rows:
            row.append(fmt(metrics["per_topic"][row[0]]["ece"]))
    return markdown_table(header, rows)


def temperature_was_fitted(temperature: dict) -> bool:
    return any(t != 1.0 for t in temperature["values"].values())


def _summary_section(metrics: dict, baselines: dict[str, dict]) -> str:
    note = (
        "Baselines are fitted on the model's own train split with thresholds tuned on its validation "
        "split; in brackets, how far the fine-tuned model is ahead (+) or behind (-)."
        if baselines
        else "No baselines: the recipe skipped them (baselines: false), or the training data named in the model's "
        "training_config.yaml is not here."
    )
    return "## Summary\n\n" + summary_table(metrics, baselines) + "\n\n" + note


def _topic_section(metrics: dict, split: ScoredSplit) -> str:
    thresholds = dict(zip(split.topics, split.thresholds, strict=True)) if split.multi_label else None
    return (
        "## Per topic (fine-tuned model)\n\n"
        + metrics_table(metrics, thresholds)
        + "\n\n"
        + interval_line(metrics)
        + " "
        'Exact match: the share of snippets whose whole topic set is right (including "no topic"). '
        "ECE: expected calibration error, how far scores are from the share of snippets they are right on."
    )


def _baseline_section(metrics: dict, baselines: dict[str, dict]) -> str:
    if not baselines:
        return "## Baselines, side by side\n\nNot run (see Summary)."
    header = ["topic", "fine-tuned F1"] + [f"{b['description']} F1 (Δ)" for b in baselines.values()]
    rows = [
        [name, fmt(m["f1"])] + [_versus(m["f1"], b["per_topic"][name]["f1"]) for b in baselines.values()]
        for name, m in metrics["per_topic"].items()
    ]
    for avg in ("micro", "macro"):
        for key, label in (("precision", "precision"), ("recall", "recall"), ("f1", "F1")):
            name = f"{avg}_{key}"
            rows.append(
                [f"**{avg} {label}**", fmt(metrics[name])]
                + [_versus(metrics[name], b[name]) for b in baselines.values()]
            )
    rows.append(
        ["**exact match**", fmt(metrics["exact_match"])]
        + [_versus(metrics["exact_match"], b["exact_match"]) for b in baselines.values()]
    )
    seconds = ", ".join(f"{b['description']}: {b['seconds']} s" for b in baselines.values())
    return (
        "## Baselines, side by side\n\n" + markdown_table(header, rows) + "\n\n"
        f"Δ = fine-tuned minus baseline. Time to fit and score each baseline: {seconds}."
    )


def _calibration_section(metrics: dict, temperature: dict | None) -> str:
    if temperature is None:
        table = markdown_table(["topic", "ECE here"], [[n, fmt(m["ece"])] for n, m in metrics["per_topic"].items()])
        note = "The model was saved without a calibration record."
    else:
        table = calibration_table(temperature, metrics)
        note = (
            "Temperatures were fitted on the validation split and are folded into the saved weights, so "
            "every score the model returns is already calibrated."
            if temperature_was_fitted(temperature)
            else "Validation ECE was low enough that no temperature was fitted (T = 1)."
        )
    return (
        "## Calibration\n\n" + table + "\n\n" + note + " A score of 0.8 should be right about 80% of "
        f"the time; ECE ({ECE_BINS} score bins) is the average gap, 0 is perfect."
    )


def _snippet(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _topic_list(row: np.ndarray, topics: list[str]) -> str:
    return ", ".join(t for t, on in zip(topics, row, strict=True) if on) or NO_TOPIC


def _errors_section(split: ScoredSplit, predictions: np.ndarray, explain: Callable | None) -> str:
    parts = [
        "## Worst errors\n\nPer topic, the false positives it scored highest and the false negatives it "
        f"scored lowest (up to {WORST_ERRORS_PER_TOPIC} each)"
        + (
            '; "words" are the ones that drove the topic\'s score most, with each one\'s share of '
            "the topic's logit (sampled Shapley values, training.explain)."
            if explain
            else "."
        )
    ]
    explained: dict[int, object] = {}  # a snippet can be an error under several topics: explain it once
    for j, name in enumerate(split.topics):
        scores, truth, predicted = split.scores[:, j], split.references[:, j] == 1, predictions[:, j] == 1
        false_pos = np.flatnonzero(predicted & ~truth)
        false_neg = np.flatnonzero(~predicted & truth)
        worst = [
            ("false positive", false_pos[np.argsort(-scores[false_pos], kind="stable")]),
            ("false negative", false_neg[np.argsort(scores[false_neg], kind="stable")]),
        ]
        rows = []
        for kind, order in worst:
            for i in order[:WORST_ERRORS_PER_TOPIC]:
                row = [
                    kind,
                    f"{scores[i]:.3f}",
                    _snippet(split.texts[i]),
                    _topic_list(split.references[i], split.topics),
                    _topic_list(predictions[i], split.topics),
                ]
                if explain:
                    if i not in explained:  # not setdefault: its argument would be computed every time
                        explained[i] = explain(split.texts[i], permutation_budget=REPORT_PERMUTATION_BUDGET)
                    explanation = explained[i]
                    top = [a for a in explanation.words[name][:EXPLAINED_WORDS] if a.weight > 0]
                    row.append(", ".join(f"{a.word} ({a.weight:+.1f})" for a in top) or "-")
                rows.append(row)
        heading = f"### {name}: {len(false_pos)} false positives, {len(false_neg)} false negatives"
        header = ["error", "score", "snippet", "true topics", "predicted"] + (["words"] if explain else [])
        body = markdown_table(header, rows) if rows else "No errors."
        parts.append(f"{heading}\n\n{body}")
    return "\n\n".join(parts)


# ---- plots --------------------------------------------------------------------------------------


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)  # render with Agg: no display, no global pyplot state
    figure.savefig(path, dpi=110, bbox_inches="tight")


def _pr_curves(split: ScoredSplit, metrics: dict) -> Figure:
    columns = min(5, len(split.topics))
    rows = math.ceil(len(split.topics) / columns)
    figure = Figure(figsize=(3.2 * columns, 3.0 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for j, (name, ax) in enumerate(zip(split.topics, axes, strict=False)):
        truth, scores = split.references[:, j], split.scores[:, j]
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
        if truth.sum() == 0:
            ax.set_title(f"{name}\nno positives here", fontsize=9)
            continue
        precision, recall, _ = precision_recall_curve(truth, scores)
        ax.plot(recall, precision, lw=1.5)
        chosen = metrics["per_topic"][name]  # precision and recall at the tuned threshold
        chosen_p, chosen_r = chosen["precision"], chosen["recall"]
        label = f"t={fmt_threshold(split.thresholds[j])}" if split.multi_label else "arg-max"
        ax.plot([chosen_r], [chosen_p], "o", color="crimson", label=label)
        ax.legend(loc="lower left", fontsize=8)
        ax.set_title(f"{name}\nAP {average_precision_score(truth, scores):.2f}, n={int(truth.sum())}", fontsize=9)
    for ax in axes[len(split.topics) :]:
        ax.set_visible(False)
    figure.tight_layout()
    return figure


def confusion_counts(split: ScoredSplit, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(counts, support, names). counts[i, i]: snippets about topic i tagged i; counts[i, j]: snippets
    about i wrongly tagged j (a snippet rightly tagged with two topics is no confusion); support[i]:
    snippets about i. Multi-label models get a "(no topic)" row (snippets about none) and column
    (snippets tagged with none)."""
    truth, predicted, names = split.references.astype(int), predictions.astype(int), list(split.topics)
    if split.multi_label:
        truth = np.column_stack([truth, truth.sum(axis=1) == 0]).astype(int)
        predicted = np.column_stack([predicted, predicted.sum(axis=1) == 0]).astype(int)
        names.append(NO_TOPIC)
    counts = truth.T @ (predicted * (1 - truth))
    np.fill_diagonal(counts, (truth * predicted).sum(axis=0))
    return counts, truth.sum(axis=0), names


def _confusion(split: ScoredSplit, predictions: np.ndarray) -> Figure:
    counts, support, names = confusion_counts(split, predictions)
    # Colour by share of the row topic's snippets, so a rare topic's confusions show as clearly as a
    # common one's.
    shares = counts / np.maximum(support[:, None], 1)
    size = 1.0 + 0.55 * len(names)
    figure = Figure(figsize=(size + 1.5, size))
    ax = figure.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(counts.shape):
        if counts[i, j]:
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(xlabel="predicted topic", ylabel="true topic", title="hits (diagonal) and wrong tags by true topic")
    figure.colorbar(image, ax=ax, label="share of the true topic's snippets")
    figure.tight_layout()
    return figure


def _score_histogram(split: ScoredSplit) -> Figure:
    figure = Figure(figsize=(7, 3.8))
    ax = figure.subplots()
    bins = np.linspace(0, 1, 41)
    truth = split.references == 1
    ax.hist(split.scores[~truth], bins=bins, alpha=0.6, label="topic not true", color="tab:gray")
    ax.hist(split.scores[truth], bins=bins, alpha=0.7, label="topic true", color="tab:blue")
    if split.multi_label:
        for t in sorted(set(np.round(split.thresholds, 4))):
            ax.axvline(t, color="crimson", lw=0.8, ls="--")
        ax.plot([], [], color="crimson", lw=0.8, ls="--", label="tuned thresholds")
    ax.set_yscale("log")
    ax.set(xlabel="score", ylabel="snippet-topic pairs (log)", title="score histogram, all topics")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _reliability(split: ScoredSplit) -> Figure:
    counts, score_sums, true_sums = reliability_bins(split.scores, split.references)
    filled = counts > 0
    mean_score, share_true = score_sums[filled] / counts[filled], true_sums[filled] / counts[filled]
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="tab:gray", ls="--", lw=1, label="perfectly calibrated")
    ax.plot(mean_score, share_true, "o-", label="model")
    for x, y, n in zip(mean_score, share_true, counts[filled], strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(5, 3), fontsize=7)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="mean score in bin", ylabel="share true in bin")
    ax.set_title("reliability, all topics (n per bin)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure
