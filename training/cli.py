"""Command line: `python -m training train|evaluate|predict` (the Makefile's targets call these)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from training.errors import DataError, ModelNotFoundError


def _train(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.config import load_config
    from training.evaluation import format_metrics
    from training.train import train

    config = load_config(args.config, overrides)
    metrics = train(config)
    split = "test" if "test" in metrics else "validation"
    print(f"\n{split} metrics ({config.name}), tuned thresholds:")
    print(format_metrics(metrics[split], metrics["thresholds"]))
    print(f"\nsaved {config.model_dir} and {config.training.output_dir}/metrics.json ({metrics['train_seconds']} s)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.artifacts import write_json_atomic
    from training.evaluation import default_output, evaluate_model, evaluation_set, format_metrics
    from training.inference import TopicClassifier

    classifier = TopicClassifier.from_pretrained(args.model)
    dataset = evaluation_set(classifier, args.data, args.config)
    metrics = evaluate_model(classifier, dataset)
    print(format_metrics(metrics, classifier.thresholds))
    output = args.output or default_output(args.model, args.data)
    write_json_atomic(output, {"model": str(args.model), "data": args.data or args.config, "n": len(dataset), **metrics})
    print(f"\nwrote {output}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from training.inference import TopicClassifier

    texts = args.text or [line.strip() for line in sys.stdin if line.strip()]
    classifier = TopicClassifier.from_pretrained(args.model)
    for p in classifier.predict(texts, threshold=args.threshold):
        top = {k: round(v, 3) for k, v in sorted(p.scores.items(), key=lambda kv: -kv[1])[:3]}
        print(json.dumps({"text": p.text, "labels": p.labels, "top_scores": top}, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model from a YAML recipe; extra --key value pairs override it")
    p.add_argument("--config", default="configs/default.yaml")
    p = sub.add_parser("evaluate", help="evaluate a saved model on a labeled file or a recipe's test split")
    p.add_argument("--model", default=None, help="model dir (default: runs/default/model or $TOPICS_MODEL)")
    p.add_argument("--data", default=None, help="labeled JSONL/CSV/Parquet file")
    p.add_argument("--config", default="configs/default.yaml", help="recipe whose test split to use without --data")
    p.add_argument("--output", default=None, help="metrics JSON (default: beside the model dir)")
    p = sub.add_parser("predict", help="tag texts given with --text, or one per line on stdin")
    p.add_argument("--model", default=None)
    p.add_argument("--text", action="append", help="a text to tag; repeat for more")
    p.add_argument("--threshold", type=float, default=None, help="one threshold for every topic")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from training.config import ConfigError

    try:
        if args.command == "train":
            return _train(args, extra)
        if args.command == "evaluate":
            return _evaluate(args)
        return _predict(args)
    except (ConfigError, DataError, ModelNotFoundError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
