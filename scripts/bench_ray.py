"""The Ray engine against predict-file on the same file and the same cores.

    python scripts/bench_ray.py                     # the corpus's 4,855 snippets, runs/default/model
    python scripts/bench_ray.py --repeat 4          # the same rows 4 times over (a bigger file)

Times, on one machine: `predict-file` in one process (model load included), and `predict --engine ray`
on a local Ray with 1 and 2 model actors (Ray start-up, actors' model loads and the shard writes
included). Ray's overhead is its wall time minus what the same work takes in one process. Writes
runs/bench/ray.json and prints a table naming the CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "runs/default/model"))
    parser.add_argument("--repeat", type=int, default=1, help="copies of the corpus in the input file")
    parser.add_argument("--output", default=str(REPO / "runs/bench/ray.json"))
    args = parser.parse_args()

    from training.artifacts import write_json_atomic
    from training.data import expand_files, read_examples
    from training.device import cpu_summary

    examples, _ = read_examples(expand_files(["data/snippets/*.jsonl"]))
    rows = [{"id": f"{e.id}-{k}", "text": e.text} for k in range(args.repeat) for e in examples]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "snippets.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
        base = [sys.executable, "-m", "training", "predict", "--model", args.model, "--input", str(source)]
        runs = [("predict-file, 1 process", [*base, "--output", str(Path(tmp) / "tagged.jsonl")])]
        for actors in (1, 2):
            output = Path(tmp) / f"ray-{actors}"
            runs.append((f"--engine ray, {actors} actor(s)", [*base, "--output", str(output), "--engine", "ray",
                                                           "--concurrency", str(actors)]))  # fmt: skip
        for name, cmd in runs:
            print(f"timing {name} ...", flush=True)
            seconds = timed(cmd)
            results.append({"run": name, "rows": len(rows), "seconds": round(seconds, 1),
                            "rows_per_s": round(len(rows) / seconds, 1)})  # fmt: skip
    single = results[0]["seconds"]
    lines = [
        f"CPU: {cpu_summary()}; {len(rows)} snippets",
        "",
        "| run | wall s | rows/s | vs predict-file |",
        "|---|---|---|---|",
        *(f"| {r['run']} | {r['seconds']} | {r['rows_per_s']} | {r['seconds'] - single:+.1f} s |" for r in results),
    ]
    print("\n".join(lines))
    write_json_atomic(args.output, {"cpu": cpu_summary(), "results": results, "table": lines})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
