"""Dashboard layer: what callbacks need from the rest of the process, handed to every page's `register`."""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings
from dashboard.bridge import ChangeFeed
from db.core.engine import Database
from db.write.recorder import Recorder


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    recorder: Recorder
    feed: ChangeFeed
