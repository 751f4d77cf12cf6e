import json

from tests.conftest import toy_rows, write_jsonl
from training.audit import audit


def test_audit_flags_planted_label_errors(tmp_path, topics_file):
    rows = toy_rows(300, seed=7)
    planted = []
    for i in range(0, 300, 30):  # ten rows whose labels contradict their own topic words
        if rows[i]["labels"]:
            rows[i]["labels"] = [t for t in ("energy", "military", "finance") if t not in rows[i]["labels"]]
            planted.append(rows[i]["id"])
    data = write_jsonl(tmp_path / "toy.jsonl", rows)
    summary = audit([str(data)], str(topics_file), tmp_path / "audit", folds=5)
    flagged = [json.loads(line) for line in (tmp_path / "audit/label_issues.jsonl").read_text().splitlines()]
    assert summary["rows"] == 300 and summary["flagged"] == len(flagged)
    found = {r["id"] for r in flagged}
    assert len(found & set(planted)) >= 0.8 * len(planted)
    assert len(found) <= 3 * len(planted)  # mostly the planted rows, not everything
    first = flagged[0]
    assert first["where"].startswith(str(data)) and set(first["scores"]) == {"energy", "military", "finance"}
