"""Train the default recipe and its variants one after another; print and save a comparison table.

    python scripts/compare_recipes.py                       # every variant below
    python scripts/compare_recipes.py --only default no_pos_weight

The default recipe is chosen on the first blind evaluation set (data/eval/blind.jsonl): it was written
and labeled apart from the training rows, so it estimates news written by others, which the test split
(same authors as the training rows) cannot. Validation and test are reported beside it. The second
blind set (data/eval/blind-2.jsonl) is left out here on purpose: a set used to choose stops being an
unbiased estimate, and that one is kept for the final figure only.
Results go to runs/recipes/comparison.{md,json}; each variant's run dir is runs/recipes/<variant>.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.config import load_config  # noqa: E402
from training.train import train  # noqa: E402

# Each variant changes one or two things against configs/default.yaml.
VARIANTS: dict[str, dict] = {
    "default": {},
    "epochs_6": {"num_train_epochs": 6},
    "epochs_3": {"num_train_epochs": 3},
    "batch_64": {"per_device_train_batch_size": 64},
    "no_pos_weight": {"pos_weight": "none"},
    "cbrt_pos_weight": {"pos_weight": "cbrt"},
    "sqrt_pos_weight": {"pos_weight": "sqrt"},
    "mean_pooling": {"pooling": "mean"},
    "one_learning_rate": {"head_learning_rate": 1.0e-4},
    "fp32": {"bf16": False},
}
# The blind set recipes are chosen on; the other files in data/eval/ stay unused for choosing.
CHOOSE_ON = ["data/eval/blind.jsonl"]
# Over-tagging on real news showed first in these topics' precision (issue 12).
WATCHED = ("diplomacy", "trade", "sanctions")


def summary(metrics: dict, overrides: dict) -> dict:
    epochs = [h["epoch"] for h in metrics["history"] if "eval_macro_f1" in h]
    row = {
        "overrides": overrides,
        "validation_macro_f1": metrics["validation"]["macro_f1"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "epochs_run": max(epochs) if epochs else 0,
        "train_seconds": metrics["train_seconds"],
    }
    if "blind" in metrics:
        blind = metrics["blind"]
        row |= {
            "blind_macro_f1": blind["macro_f1"],
            "blind_macro_f1_ci95": blind["macro_f1_ci95"],
            "blind_predicted_topics": blind["predicted_topics_per_snippet"],
            "blind_labeled_topics": blind["labeled_topics_per_snippet"],
            **{f"blind_{t}_precision": blind["per_topic"][t]["precision"] for t in WATCHED},
        }
    return row


def table(results: dict) -> str:
    watched = " | ".join(f"blind {t[:4]}. P" for t in WATCHED)
    lines = [
        f"| variant | change | val macro-F1 | test macro-F1 | blind macro-F1 (95% CI) | blind topics/snippet "
        f"(labeled) | {watched} | epochs | train s |",
        "|---|---|---|---|---|---|" + "---|" * len(WATCHED) + "---|---|",
    ]
    for name, r in results.items():
        change = ", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "configs/default.yaml"
        if "blind_macro_f1" in r:
            low, high = r["blind_macro_f1_ci95"]
            blind = f"{r['blind_macro_f1']:.3f} ({low:.3f}-{high:.3f}) | {r['blind_predicted_topics']:.2f} "
            blind += f"({r['blind_labeled_topics']:.2f}) | " + " | ".join(
                f"{r[f'blind_{t}_precision']:.3f}" for t in WATCHED
            )
        else:
            blind = " | ".join(["-"] * (2 + len(WATCHED)))
        lines.append(
            f"| {name} | {change} | {r['validation_macro_f1']:.3f} | {r['test_macro_f1']:.3f} | {blind} | "
            f"{r['epochs_run']:.0f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs/default.yaml"))
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--output", default=str(REPO / "runs/recipes"))
    args = parser.parse_args()

    results_path = Path(args.output) / "comparison.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.only:
        overrides = {**VARIANTS[name], "eval_files": CHOOSE_ON, "output_dir": str(Path(args.output) / name)}
        results[name] = summary(train(load_config(args.config, overrides)), VARIANTS[name])
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")

    text = table(results)
    (Path(args.output) / "comparison.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
