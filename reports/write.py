"""Reports layer: writes a report in the formats asked for into a folder, named after the period
(tasklens-weekly-2026-11-16.pdf), each file written under a temporary name and renamed when complete."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from db.core.engine import Database
from reports.exports import EXPORTS, PROCESS_THRESHOLD, write_csvs
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


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _replace(path: Path, write: Callable[[Path], object]) -> Path:
    partial = _partial(path)
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_report(
    report: Report,
    formats: Iterable[str],
    out_dir: Path,
    *,
    db: Database | None = None,
    process_threshold: int = PROCESS_THRESHOLD,
) -> list[Path]:
    """Writes each format into `out_dir` (created if missing) and returns the paths written. CSV streams the
    period's tasks, invocations and cost lines from `db` (required for it) into one file each, in worker
    processes when the period holds more than `process_threshold` calls (reports/exports.py)."""
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
            finals = {name: out_dir / f"{base}-{name}.csv" for name in EXPORTS}
            partials = {name: _partial(path) for name, path in finals.items()}
            try:
                write_csvs(db, scope, partials, process_threshold=process_threshold)
                for name, path in finals.items():
                    os.replace(partials[name], path)
                    written.append(path)
            finally:
                for path in partials.values():
                    path.unlink(missing_ok=True)
        elif fmt in RENDERERS:
            data = RENDERERS[fmt](report)
            written.append(_replace(out_dir / f"{base}.{fmt}", partial(Path.write_bytes, data=data)))
        else:
            raise FormatError(f"unknown format {fmt!r}")
    return written
