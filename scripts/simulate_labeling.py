"""Does the suggestion strategy save labels? Replay the labeling loop on the corpus and find out.

    python scripts/simulate_labeling.py                    # ~35 min on 2 cores with bf16
    python scripts/simulate_labeling.py --rounds 4 --epochs 2   # a quick look

The corpus's training split is the unlabeled pool (its labels play the analyst's answers). Both arms start
from the same 200 random rows; each round adds 100 rows, chosen by the strategy of `make suggest`
(training.suggest: uncertainty around each topic's threshold, k-means diversity, scored by the previous
round's model) or at random, retrains with a reduced budget (configs/default.yaml with --epochs epochs, no
baselines) and scores the blind evaluation set. Validation (thresholds, early stopping) and test are the
corpus's own splits throughout. Writes runs/simulate/curves.json and the plot
scripts/results/labeling_curves.png, and prints how many labels each arm needed to reach 95% of the
full-corpus model's blind macro-F1 (runs/default/metrics.json).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.config import load_config  # noqa: E402
from training.data import build_dataset  # noqa: E402
from training.inference import TopicClassifier  # noqa: E402
from training.suggest import suggest  # noqa: E402
from training.train import train  # noqa: E402

START, STEP = 200, 100
TARGET_SHARE = 0.95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12, help="rounds after the first 200 labels")
    parser.add_argument("--epochs", type=float, default=3, help="training budget per round (default recipe: 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(REPO / "runs/simulate"))
    parser.add_argument("--plot", default=str(REPO / "scripts/results/labeling_curves.png"))
    args = parser.parse_args()

    config = load_config(REPO / "configs/default.yaml")
    data = build_dataset(config.data)
    names = data.topic_names
    as_rows = lambda split: [  # noqa: E731
        {"id": r["id"], "text": r["text"], "labels": [n for n, v in zip(names, r["labels"], strict=True) if v > 0.5]}
        for r in data.splits[split]
    ]
    pool, held = as_rows("train"), as_rows("validation") + as_rows("test")
    start = random.Random(args.seed).sample(range(len(pool)), START)
    full = json.loads((REPO / "runs/default/metrics.json").read_text())["blind"]["macro_f1"]
    output = Path(args.output)
    curves_path = output / "curves.json"
    curves = json.loads(curves_path.read_text()) if curves_path.exists() else {}

    for arm in ("strategy", "random"):
        chosen = list(start)
        rng = random.Random(args.seed + 1)
        points = curves.get(arm, [])
        for round_no in range(args.rounds + 1):
            if round_no < len(points):  # resumed: this round is done, and so is its choice of the next rows
                chosen = points[round_no]["next_rows"]
                continue
            with tempfile.TemporaryDirectory() as tmp:
                # The held-out rows go in too: the hash split sends them back to validation and test.
                labeled = Path(tmp) / "labeled.jsonl"
                labeled.write_text("".join(json.dumps(r) + "\n" for r in [*(pool[i] for i in chosen), *held]))
                run_dir = output / arm / f"round-{round_no:02d}"
                shutil.rmtree(run_dir, ignore_errors=True)  # a round interrupted before is started over
                overrides = {
                    "train_files": [str(labeled)],
                    "output_dir": str(run_dir),
                    "num_train_epochs": args.epochs,
                    "baselines": False,
                    "disable_tqdm": True,
                }
                metrics = train(load_config(REPO / "configs/default.yaml", overrides))
                point = {"labels": len(chosen), "blind_macro_f1": metrics["blind"]["macro_f1"], "rows": list(chosen)}
                print(f"{arm}: {len(chosen)} labels -> blind macro-F1 {metrics['blind']['macro_f1']:.3f}", flush=True)
                remaining = [i for i in range(len(pool)) if i not in set(chosen)]
                if arm == "random":
                    chosen += rng.sample(remaining, STEP)
                else:
                    candidates = Path(tmp) / "pool.jsonl"
                    candidates.write_text(
                        "".join(json.dumps({"id": str(i), "text": pool[i]["text"]}) + "\n" for i in remaining)
                    )
                    classifier = TopicClassifier.from_pretrained(run_dir / "model")
                    queue = suggest(classifier, candidates, STEP, set(), Path(tmp) / "queue.jsonl")
                    chosen += [int(q["id"]) for q in queue]
            points.append({**point, "next_rows": list(chosen)})
            curves[arm] = points
            output.mkdir(parents=True, exist_ok=True)
            curves_path.write_text(json.dumps({**curves, "full_corpus_blind_macro_f1": full}, indent=1) + "\n")

    target = TARGET_SHARE * full
    needed = {
        arm: next((p["labels"] for p in curves[arm] if p["blind_macro_f1"] >= target), None)
        for arm in ("strategy", "random")
    }
    print(f"\nfull corpus ({len(pool)} labels): blind macro-F1 {full:.3f}; 95% of it: {target:.3f}")
    for arm, n in needed.items():
        reached = f"{n} labels" if n is not None else f"not reached within {curves[arm][-1]['labels']} labels"
        print(f"{arm}: {reached}")
    plot(curves, full, target, Path(args.plot), args.epochs)
    return 0


def plot(curves: dict, full: float, target: float, path: Path, epochs: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4))
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for arm, style in (("strategy", "o-"), ("random", "s--")):
        ax.plot([p["labels"] for p in curves[arm]], [p["blind_macro_f1"] for p in curves[arm]], style, label=arm)
    ax.axhline(full, color="tab:gray", lw=1, label=f"full corpus ({full:.3f})")
    ax.axhline(target, color="tab:gray", lw=1, ls=":", label=f"95% of it ({target:.3f})")
    ax.set(
        xlabel="labeled snippets",
        ylabel="blind-set macro-F1",
        title=f"Labels chosen by make suggest vs at random ({epochs:g} epochs per round)",
    )
    ax.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
