"""The HTTP service under a bounded load: its memory levels off.

The default model, the default precision (what `make serve` picks on this CPU), the real server on a
loopback port, 4 clients sending requests of 1 to 32 snippets of every length, in rounds. Before
batches were padded to a few lengths, every new padded length was a new input shape whose CPU-kernel
caches stayed in memory, and RSS grew round after round (428 MB -> 2.65 GB over five rounds on an
Intel CPU with AMX, issue 11).
"""

import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.test_serve import free_port

pytestmark = [pytest.mark.slow, pytest.mark.needs_trained_model]

ROUNDS = 4
REQUESTS_PER_ROUND = 60
CLIENTS = 4
WORDS = (
    "Russia China sanctions oil exports tariff drills missile summit envoy bank yuan chip port tanker "
    "pipeline hackers warhead treaty freight corridor lithography grid refinery minister talks said on "
    "Tuesday according to officials people familiar with the matter the agency reported"
).split()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def random_request(rng: random.Random) -> list[str]:
    # Texts of 3 to 120 words: every padded length up to max_length comes up.
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 120))) for _ in range(rng.randint(1, 32))]


def test_memory_levels_off_under_bounded_load(default_model_dir):
    port = free_port()
    cmd = [sys.executable, "-m", "training", "serve", "--model", str(default_model_dir), "--port", str(port)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "the server exited"
            try:
                httpx.get(f"{url}/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.5)
        rng = random.Random(0)
        readings = [rss_mb(process.pid)]
        with httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(CLIENTS) as pool:
            for _ in range(ROUNDS):
                bodies = [random_request(rng) for _ in range(REQUESTS_PER_ROUND)]
                statuses = list(
                    pool.map(lambda texts: client.post("/predict", json={"texts": texts}).status_code, bodies)
                )
                assert statuses == [200] * REQUESTS_PER_ROUND
                readings.append(rss_mb(process.pid))
        print("RSS MB after start and each round:", [round(r) for r in readings])
        # The first round warms every shape up; after it, memory must stay within a small margin.
        assert readings[-1] <= readings[1] * 1.10 + 50, readings
    finally:
        process.terminate()
        process.wait(timeout=30)
