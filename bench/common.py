"""Benchmarks: shared helpers — a fresh migrated database (an SQLite temp file or a throw-away PostgreSQL
database), percentiles and medians, the resident memory of a process, worker subprocesses and a plain-text
table printer.

Nothing here is imported by the application; the scripts beside it print their figures."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("TASKLENS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
DB_KINDS = ("sqlite", "postgresql")


def db_kinds(choice: str) -> tuple[str, ...]:
    """`--db sqlite|postgresql|both` as the list of kinds to run."""
    return DB_KINDS if choice == "both" else (choice,)


# ---- databases ---------------------------------------------------------------------------------------
@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """Yields the URL of a new, migrated, empty database that is removed afterwards."""
    from db.core.engine import open_database
    from db.core.migrate import upgrade

    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="tasklens-bench-")
        url = f"sqlite:///{folder}/bench.db"
        try:
            db = open_database(url)
            upgrade(db)
            db.dispose()
            yield url
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    elif kind == "postgresql":
        import psycopg

        name = f"tasklens_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        try:
            db = open_database(url)
            upgrade(db)
            db.dispose()
            yield url
        finally:
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        raise ValueError(f"unknown database kind {kind!r}")


def check_postgres() -> str | None:
    """None when the benchmark PostgreSQL server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except Exception as exc:
        return f"{PG_ADMIN_DSN} unreachable: {exc}"


# ---- statistics --------------------------------------------------------------------------------------
def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---- memory ------------------------------------------------------------------------------------------
def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (default: this one) in MiB from /proc (peak RSS without /proc)."""
    try:
        with open(f"/proc/{pid or os.getpid()}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    if pid is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return float("nan")


# ---- worker subprocesses -----------------------------------------------------------------------------
def start_worker_process(
    url: str, log: IO[bytes], *, concurrency: int = 4, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python app.py worker` against `url`, its output going to `log`."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "worker", "--db", url, "--concurrency", str(concurrency)],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def wait_workers_online(
    url: str, count: int, procs: Sequence[subprocess.Popen[bytes]], timeout: float = 60.0
) -> None:
    """Until `count` worker rows are online (each process registers itself on start)."""
    from sqlalchemy import func, select

    from db.core.engine import open_database
    from db.core.models import Worker

    db = open_database(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"worker process {p.pid} exited with {p.returncode}")
            with db.reading() as session:
                online = session.execute(
                    select(func.count()).select_from(Worker).where(Worker.status != "offline")
                ).scalar_one()
            if online >= count:
                return
            time.sleep(0.1)
        raise TimeoutError(f"{count} workers did not come online in {timeout:.0f}s")
    finally:
        db.dispose()


def stop_processes(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """SIGTERM (the worker stops cleanly), then SIGKILL whatever is still there. Only our own children."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---- output ------------------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        pairs = enumerate(zip(r, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def machine_line() -> str:
    import platform

    import sqlalchemy

    return (
        f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"sqlite {__import__('sqlite3').sqlite_version}, {os.cpu_count()} CPUs"
    )


def memory(pid: int) -> dict[str, float]:
    """The memory lines of /proc/PID/status in MiB: VmRSS (resident now), VmHWM (peak since start), RssAnon
    (heap) and RssFile (mapped files, mostly shared libraries)."""
    found: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) / 1024.0
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until a web process answers /healthz (it migrates its database first, which can take a while)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"web process exited with {proc.returncode} (see its log)")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("web process did not answer /healthz")
