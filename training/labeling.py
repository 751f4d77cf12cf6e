"""A review page for labeling with the model in the loop: confirm or fix each suggestion, one keystroke each.

    make suggest POOL=inbox.jsonl N=100     # runs/suggest/queue.jsonl
    make label                              # http://127.0.0.1:8001: review it
    make label QUEUE=runs/audit/label_issues.jsonl   # review the rows `make audit` flagged

One snippet at a time, its ten topics as toggles pre-set from the suggestion (each toggle's tooltip is the
topic's description and boundary rule from the topics file), the words that drove each suggested topic
highlighted (training.explain), and progress. Keys: 1-9 and 0 toggle the topics, Enter accepts, S skips,
U undoes the last decision.

Nothing is lost when the browser or the server is killed:
- a suggestion queue: every accepted row is checked with the training data's own rules
  (training.data.parse_row, check_topics) and appended to data/snippets/labeled-<date>.jsonl, flushed
  and fsynced before the page moves on; skips and undos go to <queue>.decisions.jsonl the same way;
- an audit queue: a confirmation or a fix is logged to data/audit/review-<date>.jsonl (id, before,
  after, decision, reason, as the earlier audit logs) and a fix rewrites the row's labels in its file;
- a restart rebuilds where the user was from those files: labeled texts, skips and undos.
"""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from training.artifacts import append_line_durably, atomic_text_file
from training.data import check_topics, normalized_key, parse_row
from training.errors import DataError
from training.readers import read_rows
from training.topics import Topic

LABELED_DIR = Path("data/snippets")
AUDIT_DIR = Path("data/audit")


class Decision(BaseModel):
    """The page's request: which queue item, and (to accept it) its topics."""

    model_config = ConfigDict(extra="forbid")
    id: str
    labels: list[str] = []


PAGE = Path(__file__).parent / "static" / "label.html"
# What the page shows of the words behind a suggested topic.
HIGHLIGHTED_WORDS_PER_TOPIC = 3


@dataclass
class Session:
    """The queue and every decision taken on it; all state lives in files and is rebuilt on start."""

    queue_path: Path
    topics: list[Topic]
    labeled_dir: Path = LABELED_DIR
    audit_dir: Path = AUDIT_DIR
    items: list[dict] = field(default_factory=list)
    done: dict[str, dict] = field(default_factory=dict)  # id -> the decision that settled it
    history: list[str] = field(default_factory=list)  # ids in decision order, for undo
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.queue_path = Path(self.queue_path)
        self.items = [row for _, row in read_rows(self.queue_path)]
        if not self.items:
            raise DataError(f"{self.queue_path}: the queue is empty")
        self.audit = "where" in self.items[0]  # make audit's label_issues.jsonl names each row's file:line
        self.today = datetime.date.today().isoformat()
        self._replay()

    @property
    def topic_names(self) -> list[str]:
        return [t.name for t in self.topics]

    @property
    def decisions_path(self) -> Path:
        return self.queue_path.with_name(self.queue_path.stem + ".decisions.jsonl")

    @property
    def labeled_path(self) -> Path:
        return self.labeled_dir / f"labeled-{self.today}.jsonl"

    @property
    def review_path(self) -> Path:
        return self.audit_dir / f"review-{self.today}.jsonl"

    # ---- rebuilding state ---------------------------------------------------------------------------

    def _replay(self) -> None:
        """Settled items from the decision log; for suggestions, also any row already in a labeled file
        (a kill between the row and its log line loses nothing and labels nothing twice)."""
        by_id = {str(item["id"]): item for item in self.items}
        if self.decisions_path.exists():
            for _, record in read_rows(self.decisions_path):
                item_id = record["id"]
                if record["action"] == "undo":
                    self.done.pop(item_id, None)
                    if item_id in self.history:
                        self.history.remove(item_id)
                elif item_id in by_id:
                    self.done[item_id] = record
                    self.history.append(item_id)
        if not self.audit:
            labeled = {}
            for path in sorted(self.labeled_dir.glob("labeled-*.jsonl")):
                for _, row in read_rows(path):
                    labeled[normalized_key(str(row.get("text", "")))] = row
            for item_id, item in by_id.items():
                row = labeled.get(normalized_key(item["text"]))
                if row is not None and item_id not in self.done:
                    self.done[item_id] = {"id": item_id, "action": "accept", "labels": row["labels"]}
                    self.history.append(item_id)

    # ---- what the page shows ------------------------------------------------------------------------

    def current(self) -> dict | None:
        return next((item for item in self.items if str(item["id"]) not in self.done), None)

    def progress(self) -> dict:
        counts = dict.fromkeys(self.topic_names, 0)
        for record in self.done.values():
            if record["action"] == "accept":
                for label in record["labels"]:
                    counts[label] += 1
        return {
            "done": len(self.done),
            "total": len(self.items),
            "accepted": sum(r["action"] == "accept" for r in self.done.values()),
            "counts": counts,
        }

    # ---- decisions ----------------------------------------------------------------------------------

    def accept(self, item_id: str, labels: list[str]) -> None:
        item = self._pending(item_id)
        where = f"{self.queue_path} item {item_id}"
        text, checked, _ = parse_row({"text": item["text"], "labels": labels}, where)
        check_topics(checked, where, self.topic_names)
        labels = list(checked)
        if self.audit:
            before = list(item["labels"])
            self._set_labels_in_source(item, labels)
            decision = "confirmed" if set(before) == set(labels) else "changed"
            review = {"id": item_id, "before": before, "after": labels, "decision": decision, "reason": "review page"}
            append_line_durably(self.review_path, json.dumps(review, ensure_ascii=False))
        else:
            row = {"id": f"labeled-{self.today}-{item_id}", "text": text, "labels": labels, "style": "labeled"}
            append_line_durably(self.labeled_path, json.dumps(row, ensure_ascii=False))
        self._log({"id": item_id, "action": "accept", "labels": labels})

    def skip(self, item_id: str) -> None:
        self._pending(item_id)
        self._log({"id": item_id, "action": "skip", "labels": []})

    def undo(self) -> str | None:
        """Take the last decision back; returns the item's id (None when there is nothing to undo)."""
        if not self.history:
            return None
        item_id = self.history[-1]
        record = self.done[item_id]
        if record["action"] == "accept":
            item = next(i for i in self.items if str(i["id"]) == item_id)
            if self.audit:
                self._set_labels_in_source(item, list(item["labels"]))
                review = {
                    "id": item_id,
                    "before": record["labels"],
                    "after": list(item["labels"]),
                    "decision": "undone",
                    "reason": "review page: undo",
                }
                append_line_durably(self.review_path, json.dumps(review, ensure_ascii=False))
            else:
                self._remove_labeled(item["text"])
        self._log({"id": item_id, "action": "undo", "labels": []})
        return item_id

    def _pending(self, item_id: str) -> dict:
        item = next((i for i in self.items if str(i["id"]) == item_id), None)
        if item is None:
            raise DataError(f"{self.queue_path}: no item {item_id!r}")
        if item_id in self.done:
            raise DataError(f"{self.queue_path}: item {item_id!r} is already decided (undo it first)")
        return item

    def _log(self, record: dict) -> None:
        append_line_durably(self.decisions_path, json.dumps(record, ensure_ascii=False))
        if record["action"] == "undo":
            self.done.pop(record["id"], None)
            self.history.remove(record["id"])
        else:
            self.done[record["id"]] = record
            self.history.append(record["id"])

    def _remove_labeled(self, text: str) -> None:
        key = normalized_key(text)
        for path in sorted(self.labeled_dir.glob("labeled-*.jsonl")):
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if normalized_key(json.loads(line)["text"]) != key]
            if len(kept) != len(lines):
                with atomic_text_file(path) as f:
                    f.writelines(line + "\n" for line in kept)

    def _set_labels_in_source(self, item: dict, labels: list[str]) -> None:
        """An audit fix: the row's labels rewritten in the file `make audit` found it in."""
        path = Path(item["where"].rpartition(":")[0])
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        matches = [row for row in rows if str(row.get("id")) == str(item["id"])]
        if len(matches) != 1:
            raise DataError(f"{path}: row {item['id']!r} is no longer there to fix")
        matches[0]["labels"] = labels
        with atomic_text_file(path) as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def create_app(session: Session, classifier):
    """The FastAPI app: the page at /, its API under /api. `classifier` highlights the words."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse

    app = FastAPI(title="geotopics labeling")
    topics = [
        {"name": t.name, "key": str((i + 1) % 10), "hint": f"{t.description}\n\nBoundary: {t.boundary}".strip()}
        for i, t in enumerate(session.topics)
    ]

    def state() -> dict:
        item = session.current()
        shown = None
        if item is not None:
            suggested = list(item.get("labels" if session.audit else "suggested_labels", []))
            explanation = classifier.explain(item["text"])
            highlights = [
                {"topic": t, "start": a.start, "end": a.end}
                for t in suggested
                for a in explanation.words[t][:HIGHLIGHTED_WORDS_PER_TOPIC]
                if a.weight > 0
            ]
            shown = {
                "id": str(item["id"]),
                "text": item["text"],
                "suggested": suggested,
                "highlights": highlights,
                "note": _note(item, session.audit),
            }
        return {"item": shown, "progress": session.progress(), "topics": topics, "audit": session.audit}

    def decide(action) -> dict:
        with session.lock:
            try:
                action()
            except DataError as e:
                raise HTTPException(status_code=422, detail=str(e)) from e
            return state()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/api/state")
    def get_state() -> dict:
        with session.lock:
            return state()

    @app.post("/api/accept")
    def accept(decision: Decision) -> dict:
        return decide(lambda: session.accept(decision.id, decision.labels))

    @app.post("/api/skip")
    def skip(decision: Decision) -> dict:
        return decide(lambda: session.skip(decision.id))

    @app.post("/api/undo")
    def undo() -> dict:
        return decide(session.undo)

    return app


def _note(item: dict, audit: bool) -> str:
    if audit:
        add, drop = item.get("model_would_add", []), item.get("model_would_drop", [])
        parts = [f"{item['where']}"] + ([f"model would add {', '.join(add)}"] if add else [])
        return "; ".join(parts + ([f"model would drop {', '.join(drop)}"] if drop else []))
    why = item.get("why") or {}
    if not why:
        return ""
    return f"picked because {why['topic']} scored {why['score']} against its threshold {why['threshold']}"


def serve_labeling(queue: str, model: str | None, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Load the model (for the highlights) and the queue's state, and serve the page until stopped."""
    import uvicorn

    from training.artifacts import read_topic_info
    from training.inference import TopicClassifier, find_model_dir

    model_dir = find_model_dir(model)
    classifier = TopicClassifier.from_pretrained(model_dir)
    topics = [Topic(**topic) for topic in read_topic_info(model_dir)["topics"]]
    session = Session(Path(queue), topics)
    print(f"labeling {queue}: {session.progress()['done']} of {len(session.items)} decided; http://{host}:{port}")
    uvicorn.run(create_app(session, classifier), host=host, port=port)
