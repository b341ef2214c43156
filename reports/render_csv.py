"""Reports layer: rows as CSV bytes — UTF-8, a header line, RFC 4180 quoting, every cell made safe by csvsafe —
produced a chunk at a time, so a million rows stream from the database to a file or a response."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from reports.csvsafe import row as safe_row

ROWS_PER_CHUNK = 2_000


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[Any]], rows_per_chunk: int = ROWS_PER_CHUNK
) -> Iterator[bytes]:
    """The header and then `rows`, as UTF-8 CSV in pieces of about `rows_per_chunk` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(header))
    pending = 1
    for values in rows:
        writer.writerow(safe_row(values))
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode("utf-8")


def render_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """All of it at once (small tables)."""
    return b"".join(csv_chunks(header, rows))
