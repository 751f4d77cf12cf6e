"""Command line: `python -m training train|evaluate|predict|serve|export|suggest|label|audit` (Makefile targets)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from training.errors import ConfigError, DataError, ModelNotFoundError, TrainingError


def _train(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.config import RecipeParser, load_config
    from training.train import train

    if args.help:
        print(RecipeParser().format_help())
        return 0
    if args.resume:
        overrides = [*overrides, "--resume_from_checkpoint", "last"]
    config = load_config(args.config, overrides)
    metrics = train(config)
    if not metrics:  # a torchrun rank other than 0: rank 0 scores, saves and prints
        return 0
    split = "test" if "test" in metrics else "validation"
    print(f"\n{split} split ({config.name}), tuned thresholds:")
    _print_metrics(metrics[split], metrics["thresholds"], metrics["baselines"])
    if "blind" in metrics:
        blind = metrics["blind"]
        print(f"\nblind evaluation set ({blind['n']} snippets from {', '.join(blind['files'])}):")
        _print_metrics(blind, metrics["thresholds"], {})
        _print_per_file(blind.get("per_file", {}))
    print(f"\nsaved {config.model_dir} and {config.training.output_dir}/metrics.json ({metrics['train_seconds']} s)")
    print(f"report: {config.training.output_dir}/report/report.md")
    return 0


def _distill(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.config import load_config
    from training.distill import distill

    config = load_config(args.config, overrides)
    metrics = distill(config, args.teacher)
    print(f"\nstudent on the test split ({config.name}), tuned thresholds:")
    _print_metrics(metrics["test"], metrics["thresholds"], metrics["baselines"])
    if "blind" in metrics:
        print("\nstudent on the blind evaluation set:")
        _print_metrics(metrics["blind"], metrics["thresholds"], {})
        _print_per_file(metrics["blind"].get("per_file", {}))
    for split in ("test", "blind"):
        if split in metrics.get("teacher", {}) and split in metrics:
            teacher, student = metrics["teacher"][split]["macro_f1"], metrics[split]["macro_f1"]
            print(f"{split}: macro-F1 student {student:.3f}, teacher {teacher:.3f} ({student - teacher:+.3f})")
    print(f"saved {config.model_dir}")
    return 0


def _print_per_file(per_file: dict[str, dict]) -> None:
    from training.report import interval_line

    for path, metrics in per_file.items():
        print(f"{path} ({metrics['n']} snippets): {interval_line(metrics)}")


def _print_metrics(metrics: dict, thresholds: dict[str, float], baselines: dict[str, dict]) -> None:
    """The report's own tables (training.report), so the terminal and report.md always agree."""
    from training.report import interval_line, metrics_table, summary_table

    print(metrics_table(metrics, thresholds or None))
    print(interval_line(metrics))
    if baselines:
        print(summary_table(metrics, baselines))


def _evaluate(args: argparse.Namespace) -> int:
    from training import evaluation
    from training.inference import default_model_dir

    model_dir = args.model or default_model_dir()
    output = args.output or evaluation.default_output(model_dir, args.data)
    results = evaluation.evaluate_and_report(model_dir, args.data, args.config, output)
    _print_metrics(results, results["thresholds"], results["baselines"])
    print(f"\nwrote {output} and {evaluation.report_dir(output)}/report.md")
    return 0


def _predict(args: argparse.Namespace) -> int:
    if args.engine == "ray":
        from training.ray_engine import predict_with_ray

        n = predict_with_ray(
            args.model,
            args.input,
            args.output,
            args.concurrency,
            args.threshold,
            args.backend,
            args.precision,
            args.output_format,
        )
        print(f"wrote {n} rows to {args.output}/ ({args.output_format} shards)", file=sys.stderr)
        return 0
    from training.inference import TopicClassifier

    classifier = TopicClassifier.from_pretrained(args.model, backend=args.backend, precision=args.precision)
    if args.input:
        from training.predict_file import predict_file

        n = predict_file(classifier, args.input, args.output, args.num_shards, args.shard_index, args.threshold)
        print(f"wrote {n} rows to {args.output}", file=sys.stderr)
        return 0
    # One output line per input line: a blank line comes back with null labels, so outputs stay aligned.
    texts = args.text or [line.rstrip("\n") for line in sys.stdin]
    tagged = iter(classifier.predict([t for t in texts if t.strip()], threshold=args.threshold))
    for text in texts:
        p = next(tagged) if text.strip() else None
        top = {k: round(v, 3) for k, v in sorted(p.scores.items(), key=lambda kv: -kv[1])[:3]} if p else None
        print(json.dumps({"text": text, "labels": p.labels if p else None, "top_scores": top}, ensure_ascii=False))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from training.serve import RequestLimits, serve

    limits = RequestLimits(
        max_texts=args.max_texts or RequestLimits.max_texts,
        max_text_chars=args.max_text_chars or RequestLimits.max_text_chars,
    )
    serve(args.model, args.host, args.port, args.workers, args.precision, limits, args.backend)
    return 0


def _suggest(args: argparse.Namespace) -> int:
    from training.inference import TopicClassifier, find_model_dir
    from training.suggest import labeled_keys, labeled_patterns, suggest

    model_dir = find_model_dir(args.model)
    classifier = TopicClassifier.from_pretrained(model_dir)
    queue = suggest(classifier, args.pool, args.n, labeled_keys(labeled_patterns(model_dir)), args.output)
    print(f"wrote {len(queue)} snippets to label to {args.output}; review them with `make label`", file=sys.stderr)
    return 0


def _label(args: argparse.Namespace) -> int:
    from training.labeling import serve_labeling

    serve_labeling(args.queue, args.model, port=args.port)
    return 0


def _export(args: argparse.Namespace) -> int:
    from training.inference import default_model_dir, find_model_dir
    from training.openvino_backend import calibration_texts, export_openvino, training_files_of

    model_dir = find_model_dir(args.model or default_model_dir())
    texts = [] if args.no_int8 else calibration_texts(args.calibration or training_files_of(model_dir))
    if texts:
        print(f"quantizing an int8 copy on {len(texts)} calibration snippets ...", file=sys.stderr)
    path = export_openvino(model_dir, texts)
    print(f"wrote {path.parent}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from training.audit import audit
    from training.config import load_config

    data = load_config(args.config).data
    files = args.data or data.train_files
    summary = audit(files, args.topics or data.topics_file, args.output, folds=args.folds)
    print(json.dumps(summary, indent=2))
    print(f"\nreview {args.output}/label_issues.jsonl (worst first): fix each row's labels or confirm them")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from training.device import BACKENDS, PRECISIONS

    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Recipe keys are parsed by config.RecipeParser; `train --help` prints them all.
    p = sub.add_parser(
        "train", help="train a model from a YAML recipe; extra --key value pairs override it", add_help=False
    )
    p.add_argument("--config", default="configs/default.yaml")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    p = sub.add_parser(
        "distill", help="train a 3-layer student on a trained teacher's scores (--key value pairs override)"
    )
    p.add_argument("--config", default="configs/distill.yaml")
    p.add_argument("--teacher", default=None, help="teacher model dir (default: runs/default/model)")
    p = sub.add_parser("evaluate", help="evaluate a saved model on a labeled file or a recipe's test split")
    p.add_argument("--model", default=None, help="model dir (default: runs/default/model or $TOPICS_MODEL)")
    p.add_argument("--data", default=None, help="labeled JSONL/CSV/Parquet file")
    p.add_argument("--config", default="configs/default.yaml", help="recipe whose test split to use without --data")
    p.add_argument("--output", default=None, help="metrics JSON (default: beside the model dir)")
    p = sub.add_parser("predict", help="tag --text texts, lines on stdin, or a whole --input file")
    p.add_argument("--model", default=None)
    p.add_argument("--text", action="append", help="a text to tag; repeat for more")
    p.add_argument("--threshold", type=float, default=None, help="one threshold for every topic")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto: fastest measured here")
    p.add_argument("--backend", choices=BACKENDS, default="torch", help="openvino: run the model's OpenVINO export")
    p.add_argument("--input", default=None, help="JSONL/CSV/Parquet file with a 'text' column, streamed")
    p.add_argument("--output", default=None, help="JSONL: every input row plus its predictions")
    p.add_argument("--num-shards", type=int, default=1, help="split --input into this many contiguous shards")
    p.add_argument("--shard-index", type=int, default=0, help="the shard this process tags, from 0")
    p.add_argument(
        "--engine",
        choices=["file", "ray"],
        default="file",
        help="ray: --input may be a glob or dir (any pyarrow URI), --output a dir of shards (needs [ray])",
    )
    p.add_argument("--concurrency", type=int, default=None, help="--engine ray: model actors (default: free CPUs)")
    p.add_argument("--output-format", choices=["jsonl", "parquet"], default="jsonl", help="--engine ray: shard format")
    p = sub.add_parser("serve", help="HTTP service: POST /predict, /explain, GET /topics, /health, docs at /docs")
    p.add_argument("--model", default=None)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 exposes it beyond this machine")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="processes, each with its own copy of the model")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--backend", choices=BACKENDS, default="torch", help="openvino: run the model's OpenVINO export")
    # Defaults live in training.serve.RequestLimits (not imported here: fastapi is slow to import).
    p.add_argument("--max-texts", type=int, default=None, help="most texts in one request (default 256)")
    p.add_argument("--max-text-chars", type=int, default=None, help="most characters per text (default 10000)")
    p = sub.add_parser("suggest", help="rank an unlabeled pool: which snippets to label next, with suggested topics")
    p.add_argument("--pool", required=True, help="JSONL/CSV/Parquet file with a 'text' column")
    p.add_argument("--n", type=int, default=100, help="snippets to suggest")
    p.add_argument("--model", default=None, help="model dir (default: runs/default/model or $TOPICS_MODEL)")
    p.add_argument("--output", default="runs/suggest/queue.jsonl")
    p = sub.add_parser("label", help="a review page on 127.0.0.1: confirm or fix suggested (or audit-flagged) rows")
    p.add_argument(
        "--queue", default="runs/suggest/queue.jsonl", help="from `suggest`, or runs/audit/label_issues.jsonl"
    )
    p.add_argument("--model", default=None, help="model dir (default: runs/default/model or $TOPICS_MODEL)")
    p.add_argument("--port", type=int, default=8001)
    p = sub.add_parser("export", help="export a trained model for another engine (OpenVINO IR inside the model dir)")
    p.add_argument("--model", default=None, help="model dir (default: runs/default/model or $TOPICS_MODEL)")
    p.add_argument("--format", choices=["openvino"], default="openvino")
    p.add_argument(
        "--calibration",
        nargs="+",
        default=None,
        help="files (globs) of snippets to calibrate the int8 copy on (default: the model's own train_files)",
    )
    p.add_argument("--no-int8", action="store_true", help="write the fp32 IR only (no NNCF quantization)")
    p = sub.add_parser("audit", help="flag likely label errors with out-of-fold predictions and cleanlab")
    p.add_argument("--config", default="configs/default.yaml", help="recipe whose train_files/topics_file to audit")
    p.add_argument("--data", nargs="+", default=None, help="labeled files instead of the recipe's")
    p.add_argument("--topics", default=None, help="topics file instead of the recipe's")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--output", default="runs/audit")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("train", "distill"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "predict" and bool(args.input) != bool(args.output):
        parser.error("--input and --output go together")
    if args.command == "predict" and args.engine == "ray" and (not args.input or args.num_shards != 1):
        parser.error("--engine ray needs --input and --output, and schedules the work itself (no --num-shards)")
    if args.command == "predict" and not 0 <= args.shard_index < args.num_shards:
        parser.error(f"--shard-index must be in [0, {args.num_shards}), got {args.shard_index}")
    try:
        if args.command == "train":
            return _train(args, extra)
        if args.command == "distill":
            return _distill(args, extra)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "audit":
            return _audit(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "export":
            return _export(args)
        if args.command == "suggest":
            return _suggest(args)
        if args.command == "label":
            return _label(args)
        return _predict(args)
    except (ConfigError, DataError, ModelNotFoundError, TrainingError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
