"""Tests: `python app.py submit --from-file tasks.jsonl` on SQLite and PostgreSQL — every line queued and
audited in one go, or (a bad line named with its field, exit 2) none."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from cli.taskfile import TaskFileError, read_specs
from db.core.engine import Database
from db.core.models import AuditLog, Task
from tests.helpers import run_cli


def counts(db: Database) -> tuple[int, int]:
    with db.reading() as s:
        tasks = s.scalar(select(func.count()).select_from(Task)) or 0
        audits = s.scalar(select(func.count()).select_from(AuditLog)) or 0
    return int(tasks), int(audits)


def test_a_file_is_queued_whole(db_url: str, db: Database, tmp_path: Path) -> None:
    lines = [
        {"title": f"job {i}", "command": "echo ok", "tags": ["nightly"], "priority": i} for i in range(50)
    ]
    lines.insert(10, {"title": "py", "callable": "worker.examples:noop"})
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    result = run_cli("submit", "--db", db_url, "--from-file", str(path))
    assert result.returncode == 0, result.stderr
    assert "submitted 51 tasks" in result.stdout
    assert counts(db) == (51, 51)
    with db.reading() as s:
        kinds = dict(s.execute(select(Task.title, Task.kind)).all())
    assert kinds["py"] == "python" and kinds["job 3"] == "command"


def test_a_bad_line_stores_nothing(db_url: str, db: Database, tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        '{"title": "a", "command": "true"}\n{"title": "b", "command": "true", "priority": "high"}\n'
    )
    result = run_cli("submit", "--db", db_url, "--from-file", str(path))
    assert result.returncode == 2
    assert "line 2: priority" in result.stderr and "nothing was submitted" in result.stderr
    assert counts(db) == (0, 0)


KEYED = '{"title": "x", "command": "true", "external_id": "k"}'


def test_lines_are_checked_before_anything() -> None:
    cases = {
        '{"title": "x"}': ("kind", 1),
        '{"title": "x", "command": ""}': ("payload.command", 1),
        '{"title": "x", "command": "true", "colour": 1}': ("colour", 1),
        "[1]": ("", 1),
        "{nope": ("", 1),
        "\n" + KEYED + "\n" + KEYED: ("external_id", 3),
    }
    for text, (field, line) in cases.items():
        try:
            read_specs(text.splitlines())
        except TaskFileError as exc:
            assert (exc.field, exc.line) == (field, line), text
        else:
            raise AssertionError(f"accepted {text!r}")
