"""Reports layer: rows as CSV bytes — UTF-8, a header line, RFC 4180 quoting, every cell made safe by csvsafe —
produced a chunk at a time, so a million rows stream from the database to a file or a response."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from reports.csvsafe import column as safe_column
from reports.csvsafe import row as safe_row

ROWS_PER_CHUNK = 2_000


def csv_chunks(
    header: Sequence[str] | None, rows: Iterable[Sequence[Any]], rows_per_chunk: int = ROWS_PER_CHUNK
) -> Iterator[bytes]:
    """The header (unless None: a later part of a file) and then `rows`, as UTF-8 CSV in pieces of about
    `rows_per_chunk` rows."""
    for _count, data in counted_chunks(header, rows, rows_per_chunk):
        yield data


def counted_chunks(
    header: Sequence[str] | None, rows: Iterable[Sequence[Any]], rows_per_chunk: int = ROWS_PER_CHUNK
) -> Iterator[tuple[int, bytes]]:
    """csv_chunks() with the number of data rows in each piece. The cells are made safe a column of a chunk at
    a time (csvsafe.column): most columns of an export need no change, found without a Python step per cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header is not None:
        writer.writerow(safe_row(header))
    it = iter(rows)
    while chunk := list(islice(it, rows_per_chunk)):
        writer.writerows(zip(*map(safe_column, zip(*chunk, strict=True)), strict=True))
        yield len(chunk), buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if header is not None and buffer.tell():
        yield 0, buffer.getvalue().encode("utf-8")  # no rows: the header alone


def render_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """All of it at once (small tables)."""
    return b"".join(csv_chunks(header, rows))
