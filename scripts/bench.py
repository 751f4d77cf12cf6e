"""Every inference path side by side, against the transformers.pipeline a user would otherwise write.

    make bench                                        # runs/default/model (+ runs/distill/model when it exists)
    python scripts/bench.py --paths pipeline,fp32,openvino --texts 500

Each path runs in its own process (so peak RSS is that path's alone): model load time (imports
included), throughput over a fixed sample of the corpus's snippets (tokenization included, after a
warm-up, best of two passes), one-snippet latency p50/p99 over calls spread evenly over the snippets'
lengths, peak RSS, and agreement: the share of (snippet, topic) decisions at the model's thresholds
equal to PyTorch fp32's on the teacher model. The table names the CPU and its bf16/int8 flags; results
go to runs/bench/bench.json. Run it on a quiet machine: the load average before and after is recorded.

Paths: pipeline (transformers' text-classification pipeline, its defaults), fp32 / bf16 / int8 (PyTorch
TopicClassifier precisions; bf16 only where the CPU has it natively), openvino / openvino-fp32 /
openvino-int8 (the OpenVINO export at precision "auto": the plugin's bf16 where bf16 was measured fast,
else the export's int8 copy where int8 was, else fp32; or forced to fp32 or int8), student /
student-openvino (the distilled 3-layer model, `make distill`, when its dir exists, at "auto"). A model
without an OpenVINO export (or without its int8 copy) is exported first, calibrated on its train_files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SNIPPETS = str(REPO / "data/snippets/*.jsonl")
# path -> (model: "teacher" or "student", backend, precision)
PATHS = {
    "pipeline": ("teacher", "pipeline", "fp32"),
    "fp32": ("teacher", "torch", "fp32"),
    "bf16": ("teacher", "torch", "bf16"),
    "int8": ("teacher", "torch", "int8"),
    "openvino": ("teacher", "openvino", "auto"),
    "openvino-fp32": ("teacher", "openvino", "fp32"),
    "openvino-int8": ("teacher", "openvino", "int8"),
    "student": ("student", "torch", "auto"),
    "student-openvino": ("student", "openvino", "auto"),
}
TARGETS = {"x_pipeline": 6.0, "openvino_x_pipeline": 8.0, "openvino_p50_ms": 5.0, "student_per_s": 1500}
LATENCY_SAMPLES = 150  # one-snippet calls, spread evenly over the sample's lengths
WARMUP_CALLS = 20
SAMPLE_SEED = 0


def snippet_sample(n: int) -> list[str]:
    from training.data import expand_files, read_examples

    texts = [e.text for e in read_examples(expand_files([SNIPPETS]))[0]]
    return random.Random(SAMPLE_SEED).sample(texts, min(n, len(texts)))


def load(path: str, model_dir: str):
    """-> (scores for a list of texts (texts x topics, the model's order), scorer of one text, the precision
    the path runs at: "auto" as this process resolved it)."""
    _, backend, precision = PATHS[path]
    if backend == "pipeline":
        from transformers import pipeline

        from training.inference import TopicClassifier

        pipe = pipeline("text-classification", model=model_dir, top_k=None)
        topics = TopicClassifier.from_pretrained(model_dir, precision="fp32").topics

        def scores(texts):
            return np.array([[{d["label"]: d["score"] for d in out}[t] for t in topics] for out in pipe(texts)])

        return scores, pipe, "fp32"
    from training.inference import TopicClassifier

    classifier = TopicClassifier.from_pretrained(model_dir, backend=backend, precision=precision)
    return classifier.score, lambda text: classifier.predict(text), classifier.precision


def measure(path: str, model_dir: str, texts: list[str]) -> dict:
    """Runs inside the path's own process."""
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    score_many, predict_one, precision = load(path, model_dir)
    load_s = time.perf_counter() - started
    for text in texts[:WARMUP_CALLS]:
        predict_one(text)
    score_many(texts[:256])
    passes = []
    for _ in range(2):
        started = time.perf_counter()
        scores = score_many(texts)
        passes.append(time.perf_counter() - started)
    by_length = sorted(texts, key=len)
    latencies = []
    for i in np.linspace(0, len(texts) - 1, LATENCY_SAMPLES).astype(int):
        started = time.perf_counter()
        predict_one(by_length[i])
        latencies.append(time.perf_counter() - started)

    import torch

    return {
        "path": path,
        "precision": precision,
        "texts": len(texts),
        "load_s": round(load_s, 2),
        "snippets_per_s": round(len(texts) / min(passes), 1),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2),
        "peak_rss_mb": peak_rss_mb(),
        "threads": torch.get_num_threads(),
        "scores": np.round(np.asarray(scores, dtype=float), 5).tolist(),
    }


def peak_rss_mb() -> int:
    """This process's peak RSS: VmHWM, the high-water mark of its own memory map. Not getrusage's ru_maxrss, which
    Linux carries over an exec: a worker started by this script would report this script's peak (with the
    OpenVINO exports it made) whenever that is higher than its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)  # kB
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # no /proc: KiB on Linux and BSDs


def run_in_subprocess(path: str, model_dir: str, texts: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", path, "--model", model_dir]
    done = subprocess.run(cmd, input=json.dumps(texts), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench path {path!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def decisions(result: dict, topic_info: dict) -> np.ndarray:
    """0/1 (snippets x topics): the result's scores at its model's thresholds."""
    thresholds = np.array([topic_info["thresholds"].get(t["name"], 0.5) for t in topic_info["topics"]])
    return np.array(result["scores"]) >= thresholds


def format_table(results: list[dict], cpu: str) -> str:
    pipeline = next((r for r in results if r["path"] == "pipeline"), None)
    lines = [
        f"CPU: {cpu}; {os.cpu_count()} cores",
        "",
        "| path | model | load s | snippets/s | x pipeline | one snippet p50 ms | p99 ms | peak RSS MB | agreement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = f"{r['snippets_per_s'] / pipeline['snippets_per_s']:.1f}" if pipeline else "-"
        lines.append(
            f"| {r['path']} ({r['precision']}) | {PATHS[r['path']][0]} | {r['load_s']:.1f} | "
            f"{r['snippets_per_s']:.0f} | {ratio} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['peak_rss_mb']} | "
            f"{r['agreement']:.2%} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "runs/default/model"))
    parser.add_argument("--student", default=str(REPO / "runs/distill/model"))
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, from {', '.join(PATHS)}")
    parser.add_argument("--texts", type=int, default=2000, help="snippets in the throughput sample")
    parser.add_argument("--output", default=str(REPO / "runs/bench/bench.json"))
    parser.add_argument("--worker", choices=list(PATHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.model, json.load(sys.stdin))))
        return 0

    from training.artifacts import read_topic_info, write_json_atomic
    from training.device import cpu_summary, cpu_supports_bf16
    from training.openvino_backend import (
        INT8_IR_FILE,
        IR_DIR,
        calibration_texts,
        export_openvino,
        training_files_of,
    )

    models = {"teacher": Path(args.model), "student": Path(args.student)}
    if not (models["teacher"] / "config.json").is_file():
        raise SystemExit(f"no trained model at {args.model}: run `make train` first, or pass --model")
    paths = [p for p in args.paths.split(",") if p]
    if "bf16" in paths and not cpu_supports_bf16():
        print("skipping bf16: this CPU has no native bf16 (PyTorch would emulate it, slower than fp32)")
        paths.remove("bf16")
    if not (models["student"] / "config.json").is_file():
        print(f"skipping the student paths: no model at {args.student} (make distill)")
        paths = [p for p in paths if PATHS[p][0] != "student"]
    for name, model_dir in models.items():
        needs_export = any(PATHS[p][:2] == (name, "openvino") for p in paths)
        if needs_export and not (model_dir / IR_DIR / INT8_IR_FILE).is_file():
            print(f"exporting {model_dir} to OpenVINO (fp32 and int8) ...", flush=True)
            patterns = [str(REPO / p) for p in training_files_of(model_dir)]
            export_openvino(model_dir, calibration_texts(patterns))
    texts = snippet_sample(args.texts)
    load_before = os.getloadavg()
    results = []
    for path in ["fp32", *[p for p in paths if p != "fp32"]]:  # fp32 first: the others are compared with it
        print(f"measuring {path} ...", flush=True)
        results.append(run_in_subprocess(path, str(models[PATHS[path][0]]), texts))
    info = {name: read_topic_info(d) for name, d in models.items() if (d / "config.json").is_file()}
    reference = decisions(results[0], info["teacher"])
    for r in results:
        r["agreement"] = round(float((decisions(r, info[PATHS[r["path"]][0]]) == reference).mean()), 5)
        del r["scores"]
    if "fp32" not in paths:
        results = results[1:]
    cpu = cpu_summary()
    table = format_table(results, cpu)
    print("\n" + table)
    write_json_atomic(
        args.output,
        {
            "model": args.model,
            "student": args.student if any(PATHS[r["path"]][0] == "student" for r in results) else None,
            "cpu": cpu,
            "cores": os.cpu_count(),
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
