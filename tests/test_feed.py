"""Tests: the ordered event reader against real databases, including PostgreSQL's in-flight sequence holes."""

from __future__ import annotations

import json
import time

from sqlalchemy import insert

from db.core.engine import Database
from db.core.timeutil import utcnow
from db.domain.ops import ActivityLine, TaskSpec
from db.domain.states import TaskKind
from db.live.feed import OrderedReader, events_between
from db.write.recorder import Recorder
from db.write.writes import E


def _task(recorder: Recorder) -> int:
    return recorder.submit(TaskSpec(title="t", kind=TaskKind.EXTERNAL))


def test_reads_in_order_and_resumes(recorder: Recorder, db: Database) -> None:
    task_id = _task(recorder)
    for i in range(5):
        recorder.record(task_id, ActivityLine(f"line {i}"))
    reader = OrderedReader(0)
    skipper = OrderedReader(0)
    with db.reading() as s:
        first = reader.read(s, limit=3)
        rest = reader.read(s)
        assert skipper.skip(s, limit=4) == 4 and skipper.skip(s) == 2 and skipper.skip(s) == 0
    seqs = [e.seq for e in first + rest]
    assert seqs == sorted(seqs) and len(seqs) == 6
    assert reader.cursor == seqs[-1] == skipper.cursor
    msg = rest[-1].message()
    assert msg["type"] == "activity" and msg["task_id"] == task_id and msg["data"]["message"] == "line 4"
    assert msg["at"].endswith("Z")
    # What the sockets are sent: the same message, its payload spliced in as stored.
    assert all(json.loads(e.text()) == e.message() for e in first + rest)
    with db.reading() as s:
        assert [e.seq for e in events_between(s, seqs[1], seqs[3])] == seqs[2:4]


def test_waits_for_an_in_flight_transaction(pg_db: Database) -> None:
    """PostgreSQL only: SQLite serialises writers, so holes cannot appear there."""
    db = pg_db
    recorder = Recorder(db)
    task_id = _task(recorder)
    reader = OrderedReader(0, gap_timeout=30)
    skipper = OrderedReader(0, gap_timeout=30)  # what a feed with no listener runs: seq numbers only
    with db.reading() as s:
        reader.read(s)
        skipper.skip(s)
    start = reader.cursor
    assert skipper.cursor == start
    slow = db.write_session()
    slow.begin()
    slow.execute(insert(E).values(task_id=task_id, type="activity", actor="slow", payload={}, at=utcnow()))
    recorder.record(task_id, ActivityLine("fast"))  # takes a later seq and commits first
    with db.reading() as s:
        assert reader.read(s) == []  # the later event is held back, not skipped past the hole
        assert reader.waiting_on_gap
        assert skipper.skip(s) == 0 and skipper.cursor == start and skipper.waiting_on_gap
    slow.commit()
    slow.close()
    with db.reading() as s:
        got = reader.read(s)
        assert skipper.skip(s) == 2
    assert [e.actor for e in got] == ["slow", "system"]
    assert skipper.cursor == reader.cursor and not skipper.waiting_on_gap


def test_passes_over_a_rolled_back_hole(pg_db: Database) -> None:
    """PostgreSQL only: SQLite reuses rowids, so a rollback leaves no hole."""
    db = pg_db
    recorder = Recorder(db)
    task_id = _task(recorder)
    reader = OrderedReader(0, gap_timeout=0.2)
    with db.reading() as s:
        reader.read(s)
    doomed = db.write_session()
    doomed.begin()
    doomed.execute(
        insert(E).values(task_id=task_id, type="activity", actor="doomed", payload={}, at=utcnow())
    )
    doomed.rollback()
    doomed.close()
    recorder.record(task_id, ActivityLine("after"))
    with db.reading() as s:
        assert reader.read(s) == []
    time.sleep(0.3)
    with db.reading() as s:
        got = reader.read(s)
    assert [e.payload.get("message") for e in got] == ["after"]


def test_watcher_hears_another_process_commit(db_url: str) -> None:
    """The cross-process watcher (SQLite data_version / PostgreSQL LISTEN) wakes the hub on a foreign commit."""
    import threading

    from db.core.engine import open_database
    from db.live.changefeed import Hub, start_watcher

    listener_db = open_database(db_url)
    writer_db = open_database(db_url)  # a separate engine stands in for another process
    hub = Hub()
    woke = threading.Event()
    hub.subscribe(lambda _topics: woke.set())
    stop = threading.Event()
    try:
        watcher = start_watcher(listener_db, hub, stop)
        connected = getattr(watcher, "connected", None)
        if connected is not None:
            assert connected.wait(10), "LISTEN connection not established"
        time.sleep(0.1)
        woke.clear()
        Recorder(writer_db).submit(TaskSpec(title="from elsewhere", kind=TaskKind.EXTERNAL))
        assert woke.wait(10), "the watcher did not hear the commit"
    finally:
        stop.set()
        listener_db.dispose()
        writer_db.dispose()


def test_message_text_lifts_ids_and_keeps_the_payload() -> None:
    """text() is message() as JSON: the call and worker ids lifted from the payload, the payload as stored."""
    from datetime import datetime

    from db.live.feed import FeedEvent

    stored = '{"invocation_id": 7, "worker_id": "w-1", "note": "has \\"invocation_id\\" in text"}'
    ev = FeedEvent(3, "invocation.completed", 5, None, None, "api", stored, datetime(2026, 1, 2, 3, 4, 5))
    msg = json.loads(ev.text())
    assert msg == ev.message()
    assert msg["invocation_id"] == 7 and msg["worker_id"] == "w-1" and msg["at"] == "2026-01-02T03:04:05.000Z"
    plain = FeedEvent(4, "activity", 5, None, None, "api", '{"message": "worker_id"}', datetime(2026, 1, 2))
    assert json.loads(plain.text()) == plain.message() and "worker_id" not in plain.message()


def test_skip_passes_a_gap_wider_than_its_window(recorder: Recorder, db: Database) -> None:
    """Seqs can jump by more than a read's window (a PostgreSQL sequence after a crash, many rolled-back
    writers): the cursor still reaches the events past the gap once the gap has been waited for."""
    task_id = _task(recorder)
    reader = OrderedReader(0, gap_timeout=0)
    with db.reading() as s:
        reader.skip(s)
    far = reader.cursor + 5_000
    with db.writing() as s:
        s.execute(
            insert(E).values(seq=far, task_id=task_id, type="activity", actor="far", payload={}, at=utcnow())
        )
    with db.reading() as s:
        assert reader.skip(s, limit=1000) == 1
    assert reader.cursor == far
