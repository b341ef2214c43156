"""Reports layer: writes a report in the formats asked for into a folder, named after the period
(tasklens-weekly-2026-11-16.pdf), each file written under a temporary name and renamed when complete."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from db.engine import Database
from reports.exports import EXPORTS, write_csv
from reports.model import Report
from reports.render_html import render_html
from reports.render_json import render_json
from reports.render_pdf import render_pdf

RENDERERS: dict[str, Callable[[Report], bytes]] = {
    "html": render_html,
    "pdf": render_pdf,
    "json": render_json,
}
FORMATS = ("html", "pdf", "csv", "json")


class FormatError(ValueError):
    pass


def parse_formats(raw: str) -> tuple[str, ...]:
    """'html,pdf' -> ('html', 'pdf'); unknown or empty names are an error, repeats are dropped."""
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        shown = ", ".join(repr(n) for n in unknown) or "none"
        raise FormatError(f"formats must be a comma-separated list of {', '.join(FORMATS)} (got {shown})")
    return tuple(dict.fromkeys(names))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", text).strip("_")[:40] or "_"


def stem(report: Report) -> str:
    """tasklens-weekly-2026-11-16, plus the filters when there are any (…-kind-demo-tag-urgent)."""
    parts = [f"tasklens-{report.period.slug}"]
    parts += [f"kind-{_slug(k)}" for k in report.filters.kind]
    parts += [f"tag-{_slug(t)}" for t in report.filters.tag]
    return "-".join(parts)


def _replace(path: Path, write: Callable[[Path], object]) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_report(
    report: Report, formats: Iterable[str], out_dir: Path, *, db: Database | None = None
) -> list[Path]:
    """Writes each format into `out_dir` (created if missing) and returns the paths written. CSV streams the
    period's tasks, invocations and cost lines from `db` (required for it) into one file each."""
    formats = tuple(formats)
    if "csv" in formats and db is None:
        raise FormatError("CSV exports read the database: pass db")
    out_dir.mkdir(parents=True, exist_ok=True)
    base = stem(report)
    written: list[Path] = []
    for fmt in formats:
        if fmt == "csv":
            assert db is not None
            scope = report.filters.scope(report.period)
            # One thread and read session per file: the database works (and releases the GIL) on one export's
            # rows while Python formats another's, so the cost lines' aggregation is nearly free.
            with ThreadPoolExecutor(max_workers=len(EXPORTS), thread_name_prefix="csv-export") as pool:
                futures = [
                    pool.submit(_replace, out_dir / f"{base}-{name}.csv", partial(write_csv, db, scope, name))
                    for name in EXPORTS
                ]
                written += [f.result() for f in futures]
        elif fmt in RENDERERS:
            data = RENDERERS[fmt](report)
            written.append(_replace(out_dir / f"{base}.{fmt}", partial(Path.write_bytes, data=data)))
        else:
            raise FormatError(f"unknown format {fmt!r}")
    return written
