"""scripts/bench_agnews.py: the AG News file is read and cleaned as it is, each draw is exactly N per
class and disjoint from what is scored, and the whole protocol runs end to end (tiny model, toy file)."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections import Counter

from tests.conftest import FILLER, REPO, TOPICS, VOCAB, write_topics

spec = importlib.util.spec_from_file_location("bench_agnews", REPO / "scripts/bench_agnews.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def write_ag_news(directory, per_class: int = 60, repeated: str | None = None):
    """A file in AG News' format: no header; class index (1-based), title, description; classes.txt."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "classes.txt").write_text("\n".join(TOPICS) + "\n", encoding="utf-8")
    with (directory / "test.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        for i in range(per_class * len(TOPICS)):
            k = i % len(TOPICS)
            words = VOCAB[TOPICS[k]]
            description = f"{words[i % 6]} {FILLER[i % 11]} {words[(i + 2) % 6]} {FILLER[(i + 5) % 11]}"
            # Texts differing only in digits count as repeats (training.data.normalized_key): spell i out.
            writer.writerow([k + 1, "Story " + "".join("abcdefghij"[int(d)] for d in str(i)), description])
        if repeated:
            for _ in range(2):
                writer.writerow([1, repeated, "same words twice"])
    return directory / "test.csv"


def test_clean_undoes_the_files_escapes_and_markup():
    # "\\" stands for a line break; " #39;" and "  quot;" are "&#39;" and " &quot;" whose "&" was lost.
    raw = 'Oil \\ prices: Iraq #39;s highest; Fed  quot;calm quot; &lt;b&gt;Bold&lt;/b&gt; move (<TXN.N>) AT&amp;T'
    assert bench.clean(raw) == 'Oil prices: Iraq\'s highest; Fed "calm" Bold move (<TXN.N>) AT&T'


def test_rows_are_title_and_description_with_class_names(tmp_path):
    path = write_ag_news(tmp_path / "ag", per_class=2)
    rows = bench.read_ag_news(path)
    assert len(rows) == 2 * len(TOPICS)
    assert rows[0][0].startswith("Story a ") and rows[0][1] == TOPICS[0]
    assert rows[1][1] == TOPICS[1]


def test_a_draw_is_n_per_class_disjoint_from_what_is_scored_and_never_a_repeated_text(tmp_path):
    rows = bench.read_ag_news(write_ag_news(tmp_path / "ag", repeated="Twice told"))
    train, validation, scored = bench.draw_rows(rows, 8, 0, validation_fraction=0.5, test_fraction=0.0, split_seed=13)
    assert Counter(rows[i][1] for i in train) == {t: 8 for t in TOPICS}
    assert Counter(rows[i][1] for i in validation) == {t: bench.VALIDATION_PER_CLASS for t in TOPICS}
    assert set(train).isdisjoint(validation) and set(train + validation).isdisjoint(scored)
    assert sorted(train + validation + scored) == list(range(len(rows)))
    assert not any(rows[i][0].startswith("Twice told") for i in train + validation)
    # Draws are reproducible and differ from each other.
    assert bench.draw_rows(rows, 8, 0, 0.5, 0.0, 13)[0] == train
    assert bench.draw_rows(rows, 8, 1, 0.5, 0.0, 13)[0] != train


def test_the_benchmark_skips_with_a_message_when_the_file_is_absent(tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path / "nowhere.csv"), "--output", str(tmp_path / "out")]) == 0
    assert "skipped: AG News not found" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_the_protocol_runs_end_to_end_and_tabulates_against_the_published_rows(tmp_path):
    data = write_ag_news(tmp_path / "ag")
    topics = write_topics(tmp_path / "topics.yaml")
    settings = {
        "topics_file": str(topics),
        "validation_fraction": 0.5,
        "test_fraction": 0.0,
        "contrastive_steps": 3,
        "head": "prototypes",
        "descriptions_as_examples": True,
        "eval_strategy": "no",
        "save_strategy": "no",
        "load_best_model_at_end": False,
        "num_train_epochs": 1,
        "learning_rate": "5e-4",
    }
    output = tmp_path / "out"
    argv = ["--data", str(data), "--config", str(REPO / "configs/tiny.yaml"), "--sizes", "8", "--draws", "2"]
    argv += ["--output", str(output)] + [f"--set={k}={v}" for k, v in settings.items()]
    assert bench.main(argv) == 0
    results = json.loads((output / "results.json").read_text())
    runs = results["runs"]
    assert [(r["n_per_class"], r["draw"], r["train_rows"]) for r in runs] == [(8, 0, 24), (8, 1, 24)]
    # Every row not drawn is scored: 180 rows - 24 trained - 24 report-only validation.
    assert all(r["evaluated_rows"] == 180 - 24 - 3 * bench.VALIDATION_PER_CLASS for r in runs)
    assert all(0 <= r["accuracy"] <= 100 and 0 <= r["tfidf_logreg_accuracy"] <= 100 for r in runs)
    assert results["summary"]["8"]["draws"] == 2
    table = (output / "results.md").read_text()
    assert "| **ours: tiny.yaml, tiny random BERT** |" in table
    for method, n8, _ in bench.PUBLISHED:
        assert f"| {method} | {n8} |" in table
    assert "Protocol difference" in table and "Wall time" in table
