"""Worker layer: the worker's scheduler log, quiet about what a database outage already explains."""

from __future__ import annotations

import logging

from db.core.unavailable import DatabaseHealth

# APScheduler's words when a job's next run comes while its last one is still going (max_instances 1).
SKIPPED = "maximum number of running instances reached"
# After an outage the periodic jobs that were retrying finish late: their skips are still the outage's.
AFTER_OUTAGE_S = 5.0


class OutageSkips(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances reached" while the database is away
    (and just after): every periodic job then waits on it at once, and on a busy machine each logged a skip
    beside the one "database unavailable" line that says why (six more warnings in one outage). A skip with
    the database up still logs: a job that outruns its interval for another reason."""

    def __init__(self, health: DatabaseHealth) -> None:
        super().__init__()
        self._health = health

    def filter(self, record: logging.LogRecord) -> bool:
        return not (SKIPPED in record.getMessage() and self._health.settling(AFTER_OUTAGE_S))


def scheduler_logger(name: str, health: DatabaseHealth) -> logging.Logger:
    """A logger of its own for one worker's scheduler (a child of apscheduler.scheduler, so configured as
    that is), with the outage filter: other schedulers in the process keep theirs as it is."""
    logger = logging.getLogger(f"apscheduler.scheduler.{name}")
    if not any(isinstance(f, OutageSkips) for f in logger.filters):
        logger.addFilter(OutageSkips(health))
    return logger
