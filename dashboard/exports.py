"""Dashboard layer: CSV downloads of every table — `GET /export/<table>.csv` with the filters the page shows in
the query string — streamed a chunk at a time from the database (db/read/csv_rows.py) through reports/render_csv, so
a million-row file never sits in the web process; every cell is made inert for spreadsheets (reports/csvsafe)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request, stream_with_context
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from config import Settings
from dashboard import access
from dashboard.api.call_schemas import CallExportQuery
from dashboard.api.calls import call_filter
from dashboard.api.errors import ApiError
from dashboard.api.params import parse_query
from dashboard.pages.tasks import filter_from
from dashboard.services import Services
from db.access.tokens import role_allows
from db.analytics import costs
from db.core.engine import Database
from db.core.models import Task
from db.core.timeutil import utcnow
from db.core.unavailable import classify
from db.domain.states import TaskKind, TaskStatus
from db.read import csv_rows as exports
from db.read.call_view import CALLS
from db.read.calls import listing as call_listing
from db.read.scope import DIMENSIONS, Scope, ScopeError, parse_scope
from db.read.tasks.filters import FILTER_PARAMS, TaskFilter
from db.read.tasks.listing import SORTABLE
from db.read.timerange import RangeError, parse_time, resolve
from reports.render_csv import csv_chunks

log = logging.getLogger(__name__)

# A byte-order mark first: Excel reads a CSV without one in the machine's legacy code page (emoji and CJK
# come out as mojibake); LibreOffice, Google Sheets and pandas read either. Python's csv wants
# encoding="utf-8-sig" to drop it.
BOM = "\ufeff".encode()
TASK_PARAMS = frozenset({*FILTER_PARAMS, "sort"})
SCOPE_PARAMS = frozenset({"range", "from", "to", *DIMENSIONS})
TOP_DEFAULT = 10  # what the costs page lists
TOP_MAX = 1_000


class ExportError(Exception):
    """A request that cannot be answered with a file: an HTTP status, a code and a message for the user."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def bad(parameter: str, message: str) -> ExportError:
    return ExportError(400, "bad_parameter", f"bad parameter {parameter!r}: {message}", parameter=parameter)


@dataclass(frozen=True)
class Download:
    """What one request asked for: the file name's middle part and the rows, read from an open session."""

    stem: str
    source: Callable[[Session], exports.Table]


Args = MultiDict[str, str]
Planner = Callable[[Args, Settings], Download]


# ---- parameters --------------------------------------------------------------------------------------
def values(args: Args, name: str) -> list[str]:
    """Every non-blank value of a repeatable parameter (`status=failed&status=timed_out`)."""
    return [v.strip() for v in args.getlist(name) if v.strip()]


def single(args: Args, name: str) -> str | None:
    found = values(args, name)
    if len(found) > 1:
        raise bad(name, "give it once")
    return found[0] if found else None


def check_known(args: Args, known: frozenset[str]) -> None:
    """An unknown parameter is an error, not ignored: a misspelt filter would otherwise download everything."""
    unknown = sorted(set(args) - known)
    if unknown:
        raise bad(unknown[0], f"unknown parameter; this table takes {', '.join(sorted(known))}")


def task_filter(args: Args) -> tuple[TaskFilter, list[tuple[str, str]]]:
    """The tasks grid's filters and sort, as the page builds them (pages.tasks.filter_from), and the rest of
    the task list's parameters the API shares (filters.FILTER_PARAMS: created_by, from/to)."""
    check_known(args, TASK_PARAMS)
    for name, allowed in (("status", [s.value for s in TaskStatus]), ("kind", [k.value for k in TaskKind])):
        for value in values(args, name):
            if value not in allowed:
                raise bad(name, f"unknown value {value!r}; one of {', '.join(allowed)}")
    try:
        start, end = _time(args, "from"), _time(args, "to")
        when = resolve(single(args, "range"), start, end, utcnow())
    except RangeError as exc:
        raise bad(exc.parameter, str(exc)) from None
    sort = grid_sort(values(args, "sort"), SORTABLE)
    filt = filter_from(
        values(args, "status"),
        values(args, "kind"),
        single(args, "worker"),
        single(args, "tag"),
        single(args, "text"),
        None,  # the time range: `when`, in the one vocabulary
        single(args, "messages"),
    )
    by = single(args, "created_by")
    return replace(filt, created_by=by, created_from=when.start, created_to=when.end), sort


def grid_sort(items: list[str], sortable: frozenset[str]) -> list[tuple[str, str]]:
    """A grid's sort as its page's address carries it: column:asc or column:desc, repeated."""
    sort = []
    for item in items:
        column, _, direction = item.partition(":")
        if column not in sortable:
            raise bad("sort", f"cannot sort by {column!r}; one of {', '.join(sorted(sortable))}")
        if direction not in ("", "asc", "desc"):
            raise bad("sort", f"give column:asc or column:desc, not {item!r}")
        sort.append((column, direction or "asc"))
    return sort


def _time(args: Args, name: str) -> datetime | None:
    text = single(args, name)
    return parse_time(name, text) if text is not None else None


def scope_of(args: Args, extra: frozenset[str] = frozenset()) -> Scope:
    """The analytics scope from the same query string the page's URL has (db/read/scope.parse_scope)."""
    check_known(args, SCOPE_PARAMS | extra)
    query = urlencode([(k, v) for k, v in args.items(multi=True) if k in SCOPE_PARAMS])
    try:
        return parse_scope(query, utcnow())
    except ScopeError as exc:
        raise bad(exc.parameter, str(exc)) from None


def task_id_of(args: Args) -> int:
    check_known(args, frozenset({"task"}))
    raw = single(args, "task")
    if raw is None:
        raise bad("task", "required: the task's id, e.g. ?task=17")
    try:
        value = int(raw)
    except ValueError:
        raise bad("task", f"a task id is a whole number, not {raw!r}") from None
    if value < 1:
        raise bad("task", f"a task id is at least 1, not {value}")
    return value


def top_limit(args: Args) -> int:
    raw = single(args, "limit")
    if raw is None:
        return TOP_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        raise bad("limit", f"a whole number, not {raw!r}") from None
    if not 1 <= value <= TOP_MAX:
        raise bad("limit", f"between 1 and {TOP_MAX:,}, not {value}")
    return value


# ---- one planner per table ---------------------------------------------------------------------------
def plan_tasks(args: Args, _settings: Settings) -> Download:
    filt, sort = task_filter(args)
    return Download("tasks", lambda s: exports.Table(exports.TASK_COLUMNS, exports.iter_tasks(s, filt, sort)))


def plan_calls(args: Args, _settings: Settings) -> Download:
    """The /calls grid's rows: its parameters read into the one CallFilter exactly as GET /api/v1/calls reads
    them (the same query model and errors), the grid's sort as the tasks download takes it."""
    try:
        q = parse_query(CallExportQuery, args)
        filt = call_filter(q)
    except ApiError as exc:
        raise ExportError(exc.status, exc.code, exc.message, **exc.details) from None
    sort = grid_sort(q.sort, CALLS.sortable)
    return Download("calls", lambda s: exports.Table(CALLS.csv_names, call_listing.iter_calls(s, filt, sort)))


def _existing(session: Session, task_id: int) -> int:
    if session.get(Task, task_id) is None:
        raise ExportError(404, "not_found", f"no task #{task_id}", task=task_id)
    return task_id


def plan_invocations(args: Args, _settings: Settings) -> Download:
    tid = task_id_of(args)
    return Download(
        f"task-{tid}-invocations",
        lambda s: exports.Table(exports.INVOCATION_COLUMNS, exports.iter_invocations(s, _existing(s, tid))),
    )


def plan_activity(args: Args, _settings: Settings) -> Download:
    tid = task_id_of(args)
    return Download(
        f"task-{tid}-activity",
        lambda s: exports.Table(exports.ACTIVITY_COLUMNS, exports.iter_activity(s, _existing(s, tid))),
    )


def plan_breakdown(args: Args, _settings: Settings) -> Download:
    scope = scope_of(args, frozenset({"dim"}))
    dim = single(args, "dim") or "model"  # the page's default
    if dim not in costs.BREAKDOWNS:
        raise bad("dim", f"one of {', '.join(costs.BREAKDOWNS)}")
    return Download(f"costs-by-{dim}", lambda s: exports.cost_breakdown(s, scope, dim))


def plan_top_tasks(args: Args, _settings: Settings) -> Download:
    scope, limit = scope_of(args, frozenset({"limit"})), top_limit(args)
    return Download("costs-top-tasks", lambda s: exports.top_tasks(s, scope, limit))


def plan_top_calls(args: Args, _settings: Settings) -> Download:
    scope, limit = scope_of(args, frozenset({"limit"})), top_limit(args)
    return Download("costs-top-calls", lambda s: exports.top_calls(s, scope, limit))


def plan_fleet(args: Args, _settings: Settings) -> Download:
    scope = scope_of(args)
    return Download("agents-workers", lambda s: exports.fleet(s, scope, utcnow()))


def plan_roles(args: Args, _settings: Settings) -> Download:
    scope = scope_of(args)
    return Download("agents-roles", lambda s: exports.roles(s, scope))


def plan_overview_workers(args: Args, settings: Settings) -> Download:
    check_known(args, frozenset())
    hide = timedelta(hours=settings.worker_offline_hide_hours)
    return Download("workers", lambda s: exports.overview_workers(s, utcnow(), hide))


def plan_budgets(args: Args, _settings: Settings) -> Download:
    check_known(args, frozenset())
    return Download("budgets", lambda s: exports.budget_rows(s, utcnow()))


def plan_database_tables(args: Args, _settings: Settings) -> Download:
    check_known(args, frozenset())
    return Download("database-tables", exports.table_sizes)


def plan_report_runs(args: Args, _settings: Settings) -> Download:
    check_known(args, frozenset())
    return Download("report-runs", exports.report_runs)


def plan_audit(args: Args, _settings: Settings) -> Download:
    """The Audit page's filters: action (exact, or a prefix ending in "."), actor, target."""
    check_known(args, frozenset({"action", "actor", "target"}))
    action, actor, target = single(args, "action"), single(args, "actor"), single(args, "target")
    return Download("audit", lambda s: exports.audit_rows(s, action=action, actor=actor, target=target))


# The URL names: /export/<name>.csv. The pages link here through dashboard/components/download.export_url.
TABLES: dict[str, Planner] = {
    "tasks": plan_tasks,
    "calls": plan_calls,
    "invocations": plan_invocations,
    "activity": plan_activity,
    "costs-breakdown": plan_breakdown,
    "costs-top-tasks": plan_top_tasks,
    "costs-top-calls": plan_top_calls,
    "agents-fleet": plan_fleet,
    "agents-roles": plan_roles,
    "overview-workers": plan_overview_workers,
    "budgets": plan_budgets,
    "database-tables": plan_database_tables,
    "report-runs": plan_report_runs,
    "audit": plan_audit,
}
# Tables that need more than the viewer role every download needs (with access control on).
ROLES: dict[str, str] = {"audit": "admin"}


# ---- the response ------------------------------------------------------------------------------------
def file_name(stem: str, today: datetime) -> str:
    return f"tasklens-{stem}-{today.date().isoformat()}.csv"


def chunks(db: Database, download: Download) -> Generator[bytes, None, None]:
    """The file in pieces, a read session open for as long as it is being sent. The first piece is the BOM,
    the header and the first rows: the query has run by then, so its errors come before any byte goes out."""
    began, rows = time.monotonic(), 0
    with db.reading() as session:
        table = download.source(session)

        def counted() -> Iterator[exports.Row]:
            nonlocal rows
            for values_ in table.rows:
                rows += 1
                yield values_

        pieces = csv_chunks(table.header, counted())
        yield BOM + next(pieces)  # the header at least
        yield from pieces
    log.info("CSV export %s: %d rows in %.1f s", download.stem, rows, time.monotonic() - began)


def _refused(table: str) -> ExportError | None:
    """403 when access control is on and the caller's role is below what `table` needs (every download needs a
    signed-in viewer, checked before this by dashboard/access.py)."""
    needed = ROLES.get(table)
    acc = access.current()
    if needed is None or not acc.enabled:
        return None
    who = acc.caller()
    if who is not None and role_allows(who.role, needed):
        return None
    return ExportError(403, "forbidden", f"the {table} download needs the {needed} role", needed=needed)


def error_response(exc: ExportError) -> Response:
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return Response(json.dumps(body, ensure_ascii=False), status=exc.status, mimetype="application/json")


def respond(svc: Services, table: str, args: Args) -> Response:
    planner = TABLES.get(table)
    if planner is None:
        return error_response(
            ExportError(
                404,
                "not_found",
                f"no table {table!r} to download; one of {', '.join(TABLES)}",
                tables=list(TABLES),
            )
        )
    refused = _refused(table)
    if refused is not None:
        return error_response(refused)
    try:
        download = planner(args, svc.settings)
        pieces = chunks(svc.db, download)
        first = next(pieces)  # runs the query: a missing task is still a 404, a failing query a 500
    except ExportError as exc:
        return error_response(exc)
    except Exception as exc:
        if classify(exc) is not None:
            raise  # the database is away: 503/507 with Retry-After (dashboard/unavailable.py)
        log.exception("CSV export of %s failed", table)
        return error_response(
            ExportError(500, "internal", "the server could not read this table; see its log")
        )

    def body() -> Iterator[bytes]:
        try:
            yield first
            yield from pieces
        except Exception:
            # The status line is gone: all that is left is to stop (the client sees a short file) and say why.
            log.exception("CSV export %s failed while streaming", download.stem)
            raise
        finally:
            pieces.close()  # a client that went away: end the read transaction now

    name = file_name(download.stem, utcnow())
    return Response(
        stream_with_context(body()),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            # Never sniffed into HTML: the file holds whatever users and agents wrote.
            "X-Content-Type-Options": "nosniff",
        },
    )


def mount(server: Flask, svc: Services) -> None:
    def export(table: str) -> Response:
        return respond(svc, table, request.args)

    def unknown(rest: str) -> Response:
        return error_response(
            ExportError(404, "not_found", f"no download at /export/{rest}; use /export/<table>.csv")
        )

    server.add_url_rule("/export/<table>.csv", "export_csv", export, methods=["GET"])
    server.add_url_rule("/export/<path:rest>", "export_unknown", unknown, methods=["GET"])
