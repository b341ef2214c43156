"""Dashboard layer: what callbacks need from the rest of the process, handed to every page's `register`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from config import Settings
from dashboard.bridge import ChangeFeed
from db.core.engine import Database
from db.live.feed import latest_seq
from db.write.recorder import Recorder


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    recorder: Recorder
    feed: ChangeFeed

    def read_past(self, session: Session) -> int:
        """A seq every event up to which is committed (or abandoned), where a live view's cursor may start:
        the change feed's cursor, which stops at a hole in the sequence (on PostgreSQL a lower seq can commit
        after a higher one); the newest seq where no feed runs (SQLite serialises writers: no holes)."""
        return self.feed.cursor if self.feed.started else latest_seq(session)
