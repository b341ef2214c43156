"""Benchmark: a monthly report end to end — build (every db/ query it makes), render HTML, PDF and JSON, export
the month's CSVs — and a CSV export of up to 1,000,000 task rows, each with its wall time and the process's
peak memory while it ran. On an existing database or a freshly generated history. Prints figures; asserts
nothing.

    python bench/bench_report.py --history 1000000            # generate into a temp SQLite file (minutes)
    python bench/bench_report.py --url sqlite:////path/big.db  # an existing database
    python bench/bench_report.py --url postgresql://postgres@127.0.0.1:5432/big --month 2026-10

The month is the last complete one (or --month); the generated history spans the 90 days before now, so the
last complete month holds about a third of it."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from common import machine_line, rss_mb, table, verdict  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from db.analytics import rollups  # noqa: E402
from db.core.engine import Database, open_database  # noqa: E402
from db.core.migrate import upgrade  # noqa: E402
from db.core.models import Task  # noqa: E402
from db.core.timeutil import utcnow  # noqa: E402
from db.read.scope import Scope  # noqa: E402
from reports.build import build_report  # noqa: E402
from reports.model import Filters, Report  # noqa: E402
from reports.period import Period, PeriodKind, parse_time, period_for  # noqa: E402
from reports.render_html import render_html  # noqa: E402
from reports.render_json import render_json  # noqa: E402
from reports.render_pdf import render_pdf  # noqa: E402
from reports.write import write_report  # noqa: E402

TARGET_S = 20.0


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    peak_mb: float = 0.0  # the process's RSS at its highest while the phase ran
    grew_mb: float = 0.0  # that peak above the RSS when the phase began
    note: str = ""


@contextmanager
def measured(name: str, phases: list[Phase]) -> Iterator[Phase]:
    """Times the block and samples this process's RSS every 20 ms while it runs."""
    phase = Phase(name)
    start_rss = rss_mb()
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    try:
        yield phase
    finally:
        phase.seconds = time.perf_counter() - began
        done.set()
        sampler.join()
        phase.peak_mb = max(peak[0], rss_mb())
        phase.grew_mb = phase.peak_mb - start_rss
        phases.append(phase)
        print(f"  … {name}: {phase.seconds:.1f}s", flush=True)


def prepare(args: argparse.Namespace) -> tuple[Database, str, str | None]:
    if args.url:
        db = open_database(args.url)
        upgrade(db)
        return db, args.url, None
    folder = tempfile.mkdtemp(prefix="tasklens-report-bench-")
    url = f"sqlite:///{folder}/bench.db"
    db = open_database(url)
    upgrade(db)
    from worker.history import generate_history

    stats = generate_history(db, args.history, days=args.days, seed=1)
    print(
        f"generated {stats.tasks:,} tasks ({stats.invocations:,} invocations) in {stats.seconds:.0f}s",
        flush=True,
    )
    started = time.monotonic()
    with db.writing() as session:  # as `demo --history` does: the cost analytics read the rollups
        rollups.rebuild(session, None)
        rollups.refresh(session, utcnow())
    print(f"rollups built in {time.monotonic() - started:.0f}s", flush=True)
    return db, url, folder


def month(args: argparse.Namespace, now: datetime) -> Period:
    start = parse_time(args.month + "-01") if args.month else None
    return period_for(PeriodKind.MONTHLY, now, start)


def all_tasks(db: Database) -> Scope:
    with db.reading() as session:
        first, last = session.execute(select(func.min(Task.created_at), func.max(Task.created_at))).one()
    if first is None:
        first = last = utcnow()
    return Scope(start=first, end=last + timedelta(seconds=1), range_key="custom")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="database URL (default: a temp SQLite file with --history tasks)")
    parser.add_argument("--history", type=int, default=1_000_000, help="tasks to generate when no --url")
    parser.add_argument("--days", type=int, default=90, help="days the generated history spans")
    parser.add_argument("--month", help="YYYY-MM (default: the last complete month)")
    parser.add_argument("--csv-rows", type=int, default=1_000_000, help="task rows in the big CSV export")
    args = parser.parse_args()

    db, url, folder = prepare(args)
    out = Path(tempfile.mkdtemp(prefix="tasklens-report-out-"))
    phases: list[Phase] = []
    try:
        now = utcnow()
        period = month(args, now)
        with db.reading() as session:
            tasks_total = int(session.scalar(select(func.count()).select_from(Task)) or 0)
        print(f"{db.dialect}, {tasks_total:,} tasks; the report of {period.label}", flush=True)

        report: Report | None = None
        with measured("build (all queries)", phases) as phase:
            with db.reading() as session:
                report = build_report(session, period, Filters(), now=now)
            phase.note = f"{int(report.kpi('tasks_created').value or 0):,} tasks created in the month"
        renderers: list[tuple[str, Callable[[Report], bytes], str]] = [
            ("render HTML", render_html, "html"),
            ("render PDF", render_pdf, "pdf"),
            ("render JSON", render_json, "json"),
        ]
        for name, render, ext in renderers:
            with measured(name, phases) as phase:
                data = render(report)
                (out / f"report.{ext}").write_bytes(data)
                phase.note = f"{len(data) / 1e6:.1f} MB"
        with measured("month CSVs (3 files at once)", phases) as phase:
            files = write_report(report, ["csv"], out, db=db)
            sizes = ", ".join(f"{p.name.rsplit('-', 1)[-1]} {_lines(p) - 1:,} lines" for p in files)
            phase.note = f"{sizes}; {sum(p.stat().st_size for p in files) / 1e6:.0f} MB"
            children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            if children_mb:  # a large month's exports run in worker processes (reports/exports.py)
                phase.note += f"; worker processes' peak RSS {children_mb:.0f} MiB"
        report_s = sum(p.seconds for p in phases)
        documents_s = report_s - phases[-1].seconds
        report_peak = max(p.peak_mb for p in phases)

        big = all_tasks(db)
        path = out / "all-tasks.csv"
        with measured("CSV of all tasks", phases) as phase:
            rows = _export_limited(db, big, path, args.csv_rows)
        phase.note = f"{rows:,} rows, {path.stat().st_size / 1e6:.0f} MB, {rows / phase.seconds:,.0f} rows/s"
        path.unlink()
    finally:
        shutil.rmtree(out, ignore_errors=True)
        db.dispose()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"\nmonthly report on {db.dialect} ({url.rsplit('/', 1)[-1]}), {tasks_total:,} tasks; {machine_line()}; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(table(["phase", "seconds", "peak RSS MiB", "growth MiB", "note"],
                [(p.name, p.seconds, p.peak_mb, p.grew_mb, p.note) for p in phases]))  # fmt: skip
    print(f"\nmonthly report, built and rendered as HTML, PDF and JSON: {documents_s:.1f}s")
    print(f"monthly report in every format, the month's CSV exports included: {report_s:.1f}s "
          f"(target ≤ {TARGET_S:.0f}s at 1,000,000 tasks: {verdict(report_s <= TARGET_S)}), "
          f"peak RSS {report_peak:.0f} MiB")  # fmt: skip


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _export_limited(db: Database, scope: Scope, path: Path, limit: int) -> int:
    """The tasks CSV of `scope`, stopped after `limit` rows (the scope is every task: a million-row export)."""
    from db.reporting import queries as rq
    from reports.render_csv import csv_chunks

    rows = 0

    def limited(it: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        nonlocal rows
        for values in it:
            if rows >= limit:
                return
            rows += 1
            yield values

    with db.reading() as session, path.open("wb") as fh:
        for chunk in csv_chunks(rq.TASK_EXPORT_COLUMNS, limited(rq.iter_tasks(session, scope))):
            fh.write(chunk)
    return rows


if __name__ == "__main__":
    main()
