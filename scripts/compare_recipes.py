"""Train the default recipe and its variants one after another; print and save a comparison table.

    python scripts/compare_recipes.py                       # every variant below
    python scripts/compare_recipes.py --only default cls_pooling

The default recipe is chosen by validation macro-F1 (the test split is reported, not used to choose).
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

# Each variant changes one thing against configs/default.yaml.
VARIANTS: dict[str, dict] = {
    "default": {},
    "cls_pooling": {"pooling": "cls"},
    "one_learning_rate": {"head_learning_rate": 1.0e-4},
    "no_pos_weight": {"pos_weight": "none"},
    "fp32": {"bf16": False},
    "no_length_grouping": {"train_sampling_strategy": "random"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs/default.yaml"))
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--output", default=str(REPO / "runs/recipes"))
    args = parser.parse_args()

    results_path = Path(args.output) / "comparison.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.only:
        overrides = {**VARIANTS[name], "output_dir": str(Path(args.output) / name)}
        metrics = train(load_config(args.config, overrides))
        epochs = [h["epoch"] for h in metrics["history"] if "eval_macro_f1" in h]
        results[name] = {
            "overrides": VARIANTS[name],
            "validation_macro_f1": metrics["validation"]["macro_f1"],
            "validation_micro_f1": metrics["validation"]["micro_f1"],
            "test_macro_f1": metrics["test"]["macro_f1"],
            "test_micro_f1": metrics["test"]["micro_f1"],
            "best_epoch_f1_at_0.5": max(h["eval_macro_f1"] for h in metrics["history"] if "eval_macro_f1" in h),
            "epochs_run": max(epochs) if epochs else 0,
            "train_seconds": metrics["train_seconds"],
        }
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")

    lines = [
        "| variant | change | val macro-F1 | val micro-F1 | test macro-F1 | epochs | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        change = ", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "configs/default.yaml"
        lines.append(
            f"| {name} | {change} | {r['validation_macro_f1']:.3f} | {r['validation_micro_f1']:.3f} | "
            f"{r['test_macro_f1']:.3f} | {r['epochs_run']:.0f} | {r['train_seconds']:.0f} |"
        )
    table = "\n".join(lines)
    (Path(args.output) / "comparison.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
