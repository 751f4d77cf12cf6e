"""The HTTP service, tested over real HTTP: `python -m training serve` runs in its own process on a
free loopback port, with the tiny model and small request limits."""

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import assert_same_prediction

from training import TopicClassifier

pytestmark = pytest.mark.slow

MAX_TEXTS = 4
MAX_TEXT_CHARS = 200
OIL = "oil gas pipeline crude refinery grid report said"
TROOPS = "troops tanks drills missiles navy artillery officials said"
BANKS = "bank bonds currency loan rates stocks"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_run):
    port = free_port()
    cmd = [
        sys.executable, "-m", "training", "serve",
        "--model", str(tiny_run["model_dir"]),
        "--port", str(port),
        "--precision", "fp32",
        "--max-texts", str(MAX_TEXTS),
        "--max-text-chars", str(MAX_TEXT_CHARS),
    ]  # fmt: skip
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{process.stdout.read()}")
        try:
            httpx.get(f"{url}/health", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("server did not answer /health within 120 s")
            time.sleep(0.25)
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def reference(tiny_run) -> TopicClassifier:
    return TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")


def test_health_and_topics(server, reference):
    health = server.get("/health").json()
    assert health["status"] == "ok" and health["precision"] == "fp32" and health["topics"] == 3
    topics = server.get("/topics").json()
    assert [t["name"] for t in topics] == reference.topics
    assert {t["name"]: t["threshold"] for t in topics} == reference.thresholds
    assert all(t["description"] == f"toy topic {t['name']}" for t in topics)


def test_predict_returns_the_same_labels_and_scores_as_the_library(server, reference):
    texts = [TROOPS, OIL, BANKS]
    response = server.post("/predict", json={"texts": texts})
    assert response.status_code == 200
    got = response.json()["predictions"]
    for prediction, expected in zip(got, reference.predict(texts), strict=True):
        assert_same_prediction(
            prediction["labels"], prediction["scores"], expected.labels, expected.scores, reference.thresholds
        )
    assert "energy" in got[1]["labels"]


def test_explain_names_the_words_behind_each_predicted_topic(server):
    response = server.post("/explain", json={"texts": [TROOPS, OIL]})
    assert response.status_code == 200, response.text
    troops, oil = response.json()["explanations"]
    assert set(troops["words"]) == set(troops["labels"]) and "military" in troops["words"]
    assert troops["words"]["military"][0]["word"] in TROOPS.split()
    assert all(w["weight"] > 0 for words in oil["words"].values() for w in words)
    chosen = server.post("/explain", json={"texts": [OIL], "topics": ["finance"]}).json()["explanations"][0]
    assert list(chosen["words"]) == ["finance"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"texts": []}', "at least 1 item"),
        ('{"texts": [3]}', "valid string"),
        ('{"texts": ["fine"], "threshold": 2}', "less than or equal to 1"),
        ('{"texts": ["fine"], "topics": ["weather"]}', "unknown topic 'weather'"),
        ('{"texts": ["fine"], "extra": 1}', "Extra inputs are not permitted"),
        ('{"texts": ["' + "x" * (MAX_TEXT_CHARS + 1) + '"]}', f"at most {MAX_TEXT_CHARS} characters"),
    ],
)
def test_explain_validates_its_input_like_predict(server, body, message):
    response = server.post("/explain", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert message in response.text


def test_threshold_in_the_request(server):
    everything = server.post("/predict", json={"texts": [OIL], "threshold": 0.0}).json()
    assert sorted(everything["predictions"][0]["labels"]) == ["energy", "finance", "military"]
    no_energy = server.post("/predict", json={"texts": [OIL], "threshold": {"energy": 1.0}}).json()
    assert "energy" not in no_energy["predictions"][0]["labels"]


def test_concurrent_requests_each_get_their_own_answer(server, reference):
    texts = [OIL, TROOPS, BANKS, f"{OIL} {BANKS}", "the weather was fine", f"{TROOPS} {OIL}"]
    expected = dict(zip(texts, reference.predict(texts), strict=True))
    requests = [[texts[i % len(texts)], texts[(i + 1) % len(texts)]] for i in range(24)]

    def send(batch):
        return batch, server.post("/predict", json={"texts": batch})

    with ThreadPoolExecutor(max_workers=8) as pool:
        for batch, response in pool.map(send, requests):
            assert response.status_code == 200
            for got, text in zip(response.json()["predictions"], batch, strict=True):
                want = expected[text]
                assert_same_prediction(got["labels"], got["scores"], want.labels, want.scores, reference.thresholds)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ('{"texts": ["unterminated', 422, "JSON decode error"),
        ('["a list", "not an object"]', 422, "valid dictionary"),
        ("{}", 422, "Field required"),
        ('{"texts": "one string, not a list"}', 422, "valid list"),
        ('{"texts": ["fine", 3]}', 422, "valid string"),
        ('{"texts": [null]}', 422, "valid string"),
        ('{"texts": [NaN]}', 422, "valid string"),
        ('{"texts": []}', 422, "at least 1 item"),
        ('{"texts": [""]}', 422, "at least 1 character"),
        ('{"texts": ["a", "b", "c", "d", "e"]}', 422, f"at most {MAX_TEXTS} items"),
        ('{"texts": ["' + "x" * (MAX_TEXT_CHARS + 1) + '"]}', 422, f"at most {MAX_TEXT_CHARS} characters"),
        ('{"texts": ["fine"], "treshold": 0.3}', 422, "Extra inputs are not permitted"),
        ('{"texts": ["fine"], "threshold": "high"}', 422, "threshold"),
        ('{"texts": ["fine"], "threshold": NaN}', 422, "threshold"),
        ('{"texts": ["fine"], "threshold": 5}', 422, "less than or equal to 1"),
        ('{"texts": ["fine"], "threshold": -1}', 422, "greater than or equal to 0"),
        ('{"texts": ["fine"], "threshold": true}', 422, "valid number"),
        ('{"texts": ["fine"], "threshold": {"energy": "x"}}', 422, "valid number"),
        ('{"texts": ["fine"], "threshold": {"energy": 1.5}}', 422, "less than or equal to 1"),
        ('{"texts": ["fine"], "threshold": {"weather": 0.2}}', 422, "unknown topic 'weather'"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_clear_message(server, body, status, message):
    response = server.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"texts": ["caf\xe9"]}', "JSON decode error"),
        (b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "JSON decode error"),
    ],
)
def test_undecodable_bodies_are_422_too(server, content, message):
    response = server.post("/predict", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert message in response.text


def test_a_body_not_sent_as_json_is_a_4xx(server):
    response = server.post("/predict", content='{"texts": ["fine"]}', headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert "valid dictionary" in response.text


def test_wrong_method_and_path_are_4xx(server):
    assert server.get("/predict").status_code == 405
    assert server.post("/nothing-here", json={}).status_code == 404


def test_openapi_docs_show_the_limits(server):
    schema = server.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/predict", "/explain", "/topics", "/health"}
    assert f"At most {MAX_TEXTS} texts per request" in schema["info"]["description"]
    assert server.get("/docs").status_code == 200


def test_missing_model_fails_before_binding_a_port(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "serve",
            "--model",
            str(tmp_path / "nothing"),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "run `make train` first" in done.stderr
