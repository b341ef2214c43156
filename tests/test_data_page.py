"""Tests: the Data page — linked from the Database page (not the navbar), admin only with access control on,
and showing the lifecycle settings in effect, the retention horizon, the last prune and backup from the audit
log, rows written per day and sizes per table. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from config import Settings
from dashboard.pages import data, database
from dashboard.routes import NAV_LINKS
from dashboard.services import Services
from db.analytics import rollups
from db.core.timeutil import utcnow
from db.lifecycle import backup, retention
from tests.test_components import texts
from worker.history import generate_history


def test_linked_from_the_database_page_not_the_navbar() -> None:
    assert all(link.href != data.PATH for link in NAV_LINKS) and data.NAV is None
    assert "Data lifecycle →" in texts(database.layout())
    assert data.LINKED_FROM == database.PATH


def test_settings_in_effect() -> None:
    rows = dict(
        (k, v) for k, v, _ in data.settings_rows(Settings(retain_days=14, backup_dir="b", redact="x"))
    )
    assert rows["TASKLENS_RETAIN_DAYS"] == "14 days"
    assert rows["TASKLENS_AUDIT_RETAIN_DAYS"] == "kept forever"
    assert rows["TASKLENS_BACKUP_DIR"].startswith("every 24 h, newest 7")
    assert rows["TASKLENS_REDACT"] == "1 pattern(s)"


def test_page_shows_the_last_prune_backup_and_sizes(svc: Services, tmp_path: Path) -> None:
    db = svc.db
    now = utcnow()
    generate_history(db, 60, days=20, seed=5, now=now - timedelta(hours=2))
    with db.writing() as s:
        rollups.refresh(s, now)
    before = texts(data.content(svc))
    assert "nothing pruned" in before and "never" in before
    retention.prune(db.writing, db.reading, now, retention.Policy(tasks_days=7), actor="cli")
    backup.audited(db, tmp_path / "b.backup", "cli", now)
    shown = texts(data.content(svc))
    assert "nothing pruned" not in shown
    joined = " ".join(shown)
    assert "Last prune" in joined and "cli · " in joined and " tasks" in joined
    assert "b.backup" in joined
    assert "tasks" in shown and "task_events" in shown  # sizes per table
    assert any(t[:4].isdigit() and t[4] == "-" for t in shown)  # a day row


def test_admin_only_with_access_control(svc: Services) -> None:
    locked = Services(svc.settings.with_(auth="on"), svc.db, svc.recorder, svc.feed)
    assert "Sign in first." in texts(data.content(locked))
