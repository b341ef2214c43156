"""Data layer: full-text search over calls' messages across tasks — SQLite FTS5 (a contentless index without
positions: terms and prefixes, no phrases, ~0.3 KB a call) and PostgreSQL full text (a stripped `simple`
tsvector under a GIN index). Only what is searched is indexed: the user and assistant text of calls reported
with messages (OTLP spans, `call` events), not system prompts or tool output. Rows are added by the write
path (writes.Deferred.flush) in the write's transaction; the structures are made by migration 0011."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.core.sqlfuncs import fts5_match

# What one call contributes to the index at most: the head of a long conversation finds it.
MAX_INDEXED = 8_000
# Letters and digits, as FTS5's unicode61 tokenizer and PostgreSQL's parser split words ("events_hourly" is
# two words to both): a term must never become a phrase, which an index without positions cannot answer.
_WORD = re.compile(r"[^\W_]+")


class SearchError(ValueError):
    """A query the index cannot answer; the message says why."""


def index_text(messages: dict[str, Any]) -> str | None:
    """The searchable text of a call's messages: user and assistant (and untyped) message contents."""
    parts: list[str] = []
    for side in ("input", "output"):
        for m in messages.get(side) or []:
            if not isinstance(m, dict) or m.get("role") in ("system", "tool"):
                continue
            content = m.get("content")
            if isinstance(content, str):
                parts.append(content)
    joined = "\n".join(p for p in parts if p)
    return joined[:MAX_INDEXED] or None


def add(session: Session, rows: Sequence[tuple[int, str, str]]) -> None:
    """Index (task id, call id, text) rows, in the caller's write transaction."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "INSERT INTO call_search (task_id, call_id, body) "
                "VALUES (:t, :c, strip(to_tsvector('simple', :body)))"
            ),
            [{"t": t, "c": c, "body": b} for t, c, b in rows],
        )
        return
    # SQLite: the writer holds the database (BEGIN IMMEDIATE), so the next ids are ours to take.
    start = int(session.execute(text("SELECT coalesce(max(id), 0) FROM call_search_rows")).scalar_one())
    numbered = [(start + n, t, c, b) for n, (t, c, b) in enumerate(rows, 1)]
    session.execute(
        text("INSERT INTO call_search_rows (id, task_id, call_id) VALUES (:i, :t, :c)"),
        [{"i": i, "t": t, "c": c} for i, t, c, _ in numbered],
    )
    session.execute(
        text("INSERT INTO call_search (rowid, body) VALUES (:i, :b)"),
        [{"i": i, "b": b} for i, _, _, b in numbered],
    )


def words(query: str) -> list[str]:
    return _WORD.findall(query)[:20]


def search(session: Session, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Tasks whose calls' messages hold every word of `query` (any case), newest match first, each with
    its matching call ids."""
    terms = words(query)
    if not terms:
        return []
    if session.get_bind().dialect.name == "postgresql":
        hits = session.execute(
            text(
                "SELECT s.task_id, s.call_id FROM call_search s WHERE s.body @@ plainto_tsquery('simple', :q) "
                "ORDER BY s.task_id DESC LIMIT :n"
            ),
            {"q": " ".join(terms), "n": limit * 20},
        ).all()
    else:
        match = fts5_match(terms)
        try:
            hits = session.execute(
                text(
                    "SELECT r.task_id, r.call_id FROM call_search s JOIN call_search_rows r ON r.id = s.rowid "
                    "WHERE call_search MATCH :m ORDER BY s.rowid DESC LIMIT :n"
                ),
                {"m": match, "n": limit * 20},
            ).all()
        except OperationalError as exc:
            if "fts5" not in str(exc):
                raise
            raise SearchError(f"the index cannot answer {query!r}: {exc.orig}") from None
    found: dict[int, list[str]] = {}
    for task_id, call_id in hits:
        if task_id in found or len(found) < limit:
            found.setdefault(int(task_id), []).append(str(call_id))
    if not found:
        return []
    titles = {
        int(i): (str(t), str(s))
        for i, t, s in session.execute(
            text("SELECT id, title, status FROM tasks WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": list(found)},
        )
    }
    return [
        {"task_id": t, "title": titles[t][0], "status": titles[t][1], "calls": calls}
        for t, calls in found.items()
        if t in titles  # a deleted task's SQLite index rows stay behind (contentless FTS5 keeps no text)
    ]
