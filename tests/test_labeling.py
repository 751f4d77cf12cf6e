"""Labeling with the model in the loop: suggestions, the review page in a real headless browser, and the
files it writes (nothing lost when the server is killed)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO, VOCAB, toy_rows, write_jsonl

from tests.test_serve import free_port
from training.data import normalized_key
from training.errors import DataError
from training.inference import TopicClassifier
from training.labeling import Session
from training.suggest import suggest
from training.topics import Topic

TOPICS = [Topic("energy", "oil and gas", "not weapons"), Topic("military"), Topic("finance")]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def classifier(tiny_run) -> TopicClassifier:
    return TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")


def make_queue(classifier, tmp_path: Path, n: int) -> Path:
    pool = write_jsonl(
        tmp_path / "pool.jsonl", [{"id": f"p{i}", "text": r["text"]} for i, r in enumerate(toy_rows(60, seed=7))]
    )
    output = tmp_path / "queue.jsonl"
    suggest(classifier, pool, n, set(), output)
    return output


def test_suggestions_are_uncertain_diverse_and_new(classifier, tmp_path):
    rows = toy_rows(80, seed=7)
    labeled = {normalized_key(r["text"]) for r in rows[:20]}
    pool = write_jsonl(tmp_path / "pool.jsonl", rows + rows[:5])  # repeats inside the pool too
    queue = suggest(classifier, pool, 10, labeled, tmp_path / "queue.jsonl")
    assert len(queue) == 10
    keys = [normalized_key(q["text"]) for q in queue]
    assert len(set(keys)) == 10 and not set(keys) & labeled
    margins = [q["why"]["margin"] for q in queue]
    assert margins == sorted(margins)  # most uncertain first
    assert all(set(q["suggested_labels"]) <= set(VOCAB) and q["why"]["topic"] in VOCAB for q in queue)
    assert [json.loads(line)["id"] for line in (tmp_path / "queue.jsonl").read_text().splitlines()] == [
        q["id"] for q in queue
    ]
    with pytest.raises(DataError, match="no unlabeled text left"):
        suggest(classifier, pool, 5, {normalized_key(r["text"]) for r in rows}, tmp_path / "q2.jsonl")


def test_session_checks_labels_like_training_data_and_undoes(classifier, tmp_path):
    queue = make_queue(classifier, tmp_path, 4)
    session = Session(queue, TOPICS, labeled_dir=tmp_path / "snippets")
    first = session.current()
    with pytest.raises(DataError, match="unknown topic 'weather'"):
        session.accept(str(first["id"]), ["weather"])
    session.accept(str(first["id"]), ["finance"])
    with pytest.raises(DataError, match="already decided"):
        session.skip(str(first["id"]))
    (labeled,) = (tmp_path / "snippets").glob("labeled-*.jsonl")
    assert [json.loads(line)["labels"] for line in labeled.read_text().splitlines()] == [["finance"]]
    assert session.undo() == str(first["id"])
    assert labeled.read_text() == "" and session.current()["id"] == first["id"]


def test_audit_rows_are_fixed_in_their_file_and_logged(classifier, tmp_path):
    source = write_jsonl(
        tmp_path / "snippets.jsonl", [{"id": "s1", "text": "oil gas pipeline", "labels": ["military"]}]
    )
    flagged = write_jsonl(
        tmp_path / "label_issues.jsonl",
        [
            {
                "where": f"{source}:1",
                "id": "s1",
                "text": "oil gas pipeline",
                "labels": ["military"],
                "model_would_add": ["energy"],
                "model_would_drop": ["military"],
            }
        ],
    )
    session = Session(flagged, TOPICS, audit_dir=tmp_path / "audit")
    session.accept("s1", ["energy"])
    assert json.loads(source.read_text())["labels"] == ["energy"]
    (review,) = (tmp_path / "audit").glob("review-*.jsonl")
    record = json.loads(review.read_text())
    assert record == {
        "id": "s1",
        "before": ["military"],
        "after": ["energy"],
        "decision": "changed",
        "reason": "review page",
    }
    session.undo()
    assert json.loads(source.read_text())["labels"] == ["military"]


# ---- the page, in a real browser -----------------------------------------------------------------


def start_server(workdir: Path, queue: Path, model_dir: Path, port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "training",
        "label",
        "--queue",
        str(queue),
        "--model",
        str(model_dir),
        "--port",
        str(port),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, "the labeling server exited"
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/state", timeout=2).raise_for_status()
            return process
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the labeling server did not start"
            time.sleep(0.3)


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


class Page:
    def __init__(self, driver, url: str):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.url, self.wait = driver, url, WebDriverWait(driver, 30)
        self.open()

    def open(self) -> None:
        self.driver.get(self.url)
        self.wait.until(lambda d: d.find_element("id", "text").get_attribute("data-id"))

    @property
    def item_id(self) -> str:
        return self.driver.find_element("id", "text").get_attribute("data-id")

    def chosen(self) -> set[str]:
        return {b.get_attribute("data-topic") for b in self.driver.find_elements("css selector", "#topics button.on")}

    def press(self, *keys: str) -> None:
        """Keys one by one; the last one moves to another item, so wait for it."""
        from selenium.webdriver.common.action_chains import ActionChains

        before = self.item_id
        for key in keys:
            ActionChains(self.driver).send_keys(key).perform()
        self.wait.until(lambda d: self.item_id != before)

    def progress(self) -> str:
        return self.driver.find_element("id", "progress").text


@pytest.mark.slow
def test_label_five_snippets_by_keyboard_and_survive_a_killed_server(classifier, tiny_run, tmp_path, browser):
    from selenium.webdriver.common.keys import Keys

    queue = make_queue(classifier, tmp_path, 7)
    items = [json.loads(line) for line in queue.read_text().splitlines()]
    port = free_port()
    server = start_server(tmp_path, queue, tiny_run["model_dir"], port)
    page = Page(browser, f"http://127.0.0.1:{port}/")
    try:
        assert page.progress().startswith("1 of 7")
        expected = {}
        for item in items[:3]:  # digit 3 toggles finance, Enter accepts
            assert page.item_id == item["id"] and page.chosen() == set(item["suggested_labels"])
            marks = browser.find_elements("css selector", "#text mark")
            # The words behind each suggested topic are highlighted: words of the snippet, tagged with the topic.
            assert {m.get_attribute("data-topic") for m in marks} <= set(item["suggested_labels"])
            assert all(m.text in item["text"].split() for m in marks)
            assert bool(marks) == bool(item["suggested_labels"])
            expected[item["id"]] = set(item["suggested_labels"]) ^ {"finance"}
            page.press("3", Keys.ENTER)
        server.send_signal(signal.SIGKILL)  # mid-session: nothing in flight may be lost
        server.wait()
        server = start_server(tmp_path, queue, tiny_run["model_dir"], port)
        page.open()
        assert page.item_id == items[3]["id"] and page.progress().startswith("4 of 7")
        page.press("s")  # skip item 4
        page.press(Keys.ENTER)  # accept item 5 as suggested ...
        page.press("u")  # ... undo it ...
        assert page.item_id == items[4]["id"]
        expected[items[4]["id"]] = set(items[4]["suggested_labels"]) ^ {"energy"}
        page.press("1", Keys.ENTER)  # ... and accept it with energy toggled
        expected[items[5]["id"]] = set(items[5]["suggested_labels"])
        page.press(Keys.ENTER)
        assert page.item_id == items[6]["id"] and page.progress().startswith("7 of 7")
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    (labeled,) = (tmp_path / "data/snippets").glob("labeled-*.jsonl")
    rows = [json.loads(line) for line in labeled.read_text().splitlines()]
    by_text = {r["text"]: set(r["labels"]) for r in rows}
    assert len(rows) == 5 and len(by_text) == 5
    assert by_text == {i["text"]: expected[i["id"]] for i in items if i["id"] in expected}
    assert all(set(r) == {"id", "text", "labels", "style"} for r in rows)
