"""Benchmark predict() against the transformers.pipeline a user would otherwise write.

    make bench                                   # runs/default/model, every path
    python scripts/bench.py --model /tmp/some-model --paths pipeline,int8

For each path, in its own process (so peak RSS is that path's alone): model load time, throughput
over every snippet in data/snippets/*.jsonl (length-sorted batches for ours; the pipeline with its
defaults, one text at a time), single-snippet latency p50/p99, and peak RSS. Prints a table with the
ratios to the pipeline and the issue's targets, and writes runs/bench/bench.json.
Run it on a quiet machine: the load average before and after is recorded beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Only the parent imports `training.data` (and with it `datasets`): each worker's peak RSS is what a
# user of that path pays, no more. The texts reach the workers through stdin.

SNIPPETS = str(REPO / "data/snippets/*.jsonl")
PATHS = ("pipeline", "fp32", "bf16", "int8")
TARGETS = {"snippets_per_s": 1500, "x_pipeline": 5.0, "p50_ms": 5.0, "peak_rss_mb": 600}
LATENCY_SAMPLES = 300  # single-snippet calls, spread evenly over the corpus's lengths
WARMUP_CALLS = 20


def realistic_snippets() -> list[str]:
    from training.data import expand_files, read_examples

    examples, _ = read_examples(expand_files([SNIPPETS]))
    return [e.text for e in examples]


def load(path: str, model_dir: str):
    """-> (function scoring a list of texts, function scoring one text)."""
    import training  # noqa: F401  registers the topic-bert model type, so the pipeline can load it

    if path == "pipeline":
        from transformers import pipeline

        pipe = pipeline("text-classification", model=model_dir)
        return pipe, pipe
    from training.inference import TopicClassifier

    classifier = TopicClassifier.from_pretrained(model_dir, precision=path)
    return classifier.predict, classifier.predict


def measure(path: str, model_dir: str, texts: list[str]) -> dict:
    """Runs inside the path's own process."""
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    predict_many, predict_one = load(path, model_dir)
    load_s = time.perf_counter() - started
    for text in texts[:WARMUP_CALLS]:
        predict_one(text)
    predict_many(texts[:64])

    started = time.perf_counter()
    outputs = predict_many(texts)
    throughput_s = time.perf_counter() - started
    assert len(outputs) == len(texts)

    by_length = sorted(texts, key=len)
    sample = [by_length[i] for i in np.linspace(0, len(texts) - 1, LATENCY_SAMPLES).astype(int)]
    latencies = []
    for text in sample:
        started = time.perf_counter()
        predict_one(text)
        latencies.append(time.perf_counter() - started)

    import torch

    return {
        "path": path,
        "texts": len(texts),
        "load_s": round(load_s, 3),
        "snippets_per_s": round(len(texts) / throughput_s, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch_threads": torch.get_num_threads(),
    }


def run_in_subprocess(path: str, model_dir: str, texts: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--model", model_dir, "--worker", path]
    done = subprocess.run(cmd, input=json.dumps(texts), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench path {path!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(results: list[dict]) -> str:
    baseline = next((r for r in results if r["path"] == "pipeline"), None)
    header = (
        f"{'path':<26}{'load s':>8}{'snippets/s':>12}{'x pipeline':>12}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        name = "transformers.pipeline" if r["path"] == "pipeline" else f"predict, {r['path']}"
        ratio = f"{r['snippets_per_s'] / baseline['snippets_per_s']:.1f}x" if baseline else "-"
        lines.append(
            f"{name:<26}{r['load_s']:>8.2f}{r['snippets_per_s']:>12.0f}{ratio:>12}"
            f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['peak_rss_mb']:>13.0f}"
        )
    t = TARGETS
    lines.append(
        f"{'target':<26}{'':>8}{'>= ' + str(t['snippets_per_s']):>12}{'>= ' + str(t['x_pipeline']) + 'x':>12}"
        f"{'<= ' + str(t['p50_ms']):>9}{'':>9}{'<= ' + str(t['peak_rss_mb']):>13}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(REPO / "runs/default/model"))
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, from {', '.join(PATHS)}")
    parser.add_argument("--output", default=str(REPO / "runs/bench/bench.json"))
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.model, json.load(sys.stdin))))
        return 0
    from training.artifacts import write_json_atomic
    from training.device import cpu_summary, cpu_supports_bf16

    if not (Path(args.model) / "config.json").is_file():
        raise SystemExit(f"no trained model at {args.model}: run `make train` first, or pass --model")
    paths = [p for p in args.paths.split(",") if p]
    if "bf16" in paths and not cpu_supports_bf16():
        print("skipping bf16: this CPU has no native bf16 (torch would emulate it, slower than fp32)")
        paths.remove("bf16")
    texts = realistic_snippets()
    load_before = os.getloadavg()
    results = []
    for path in paths:
        print(f"measuring {path} ...", flush=True)
        results.append(run_in_subprocess(path, args.model, texts))
    table = format_table(results)
    print("\n" + table)
    write_json_atomic(
        args.output,
        {
            "model": args.model,
            "cpu": cpu_summary(),
            "cores": os.cpu_count(),
            "native_bf16": cpu_supports_bf16(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "targets": TARGETS,
            "results": results,
            "table": table.splitlines(),
        },
    )
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
