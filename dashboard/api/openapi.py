"""API layer: GET /openapi.json — the OpenAPI 3.1 document of /api/v1. Schemas and query parameters are
generated from the pydantic models the handlers validate with; the paths are written here by hand, and each
operation carries the role the endpoint table (registry.py) gives it."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from flask import Response
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from dashboard.api import alert_schemas as al
from dashboard.api import budget_schemas as bu
from dashboard.api import celery as ce
from dashboard.api import fleet as fl
from dashboard.api import schedule_schemas as ss
from dashboard.api import schemas as s
from dashboard.api.call_schemas import CallDetail, CallTree, Latency, LatencyQuery, SearchQuery, SearchResult
from dashboard.api.event_schemas import MAX_BATCH_BYTES, MAX_EVENTS, BatchResult, EventBatch
from dashboard.api.params import parse_query
from dashboard.api.registry import ENDPOINTS, PREFIX, Role, endpoint

JSON = "application/json"
ERRORS = {
    400: "a bad parameter, cursor or malformed JSON",
    401: "auth is on and no valid bearer token was sent",
    403: "the token's role is below the one this operation needs (x-required-role)",
    404: "no such task, invocation or path",
    405: "the path takes other methods (see Allow)",
    409: "the task's state does not allow it (an illegal transition; a duplicate key)",
    413: "the body is too large",
    415: "the body is not application/json",
    422: "a field of the body is invalid (details.field names it)",
    429: "too many requests from this token or address (see Retry-After)",
}
# Answers any operation may give: access control and the rate limit (dashboard/api/registry.py guard).
GUARD_ERRORS = (401, 403, 429)
RESPONSE_MODELS: list[type[BaseModel]] = [
    s.TaskPage,
    s.TaskDetail,
    s.TaskAction,
    s.TimelinePage,
    s.ActivityPage,
    s.InvocationDetail,
    CallTree,
    CallDetail,
    Latency,
    SearchResult,
    s.Stats,
    s.WorkerList,
    s.Costs,
    s.Health,
    s.Ready,
    s.AuditPage,
    s.ErrorBody,
    s.TaskBatchCreated,
    ss.ScheduleList,
    ss.ScheduleDetail,
    fl.WorkerControl,
    fl.Limit,
    fl.LimitList,
    BatchResult,
    al.AlertPage,
    al.AlertDetail,
    al.RuleList,
    al.RuleOut,
    al.SilenceList,
    al.SilenceOut,
    bu.BudgetList,
    bu.BudgetOut,
    ce.ControlSent,
    ce.QueueList,
]
REQUEST_MODELS: list[type[BaseModel]] = [
    s.TaskCreate,
    s.TaskBatchCreate,
    ss.ScheduleCreate,
    fl.LimitSet,
    EventBatch,
    al.AckBody,
    al.RuleCreate,
    al.RuleUpdate,
    al.SilenceCreate,
    bu.BudgetCreate,
    ce.RevokeBody,
    ce.RateLimitBody,
    ce.PoolBody,
]


def _op(
    op_id: str,
    summary: str,
    ok: dict[int, tuple[str, Any]],
    errors: tuple[int, ...] = (400,),
    *,
    query: type[BaseModel] | None = None,
    path: tuple[str, ...] = (),
    body: type[BaseModel] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """One operation; `ok` maps a status to (description, response model or a raw content map or None)."""
    return {
        "operationId": op_id,
        "summary": summary,
        "description": description,
        "_query": query,
        "_path": path,
        "_body": body,
        "_ok": ok,
        "_errors": errors,
    }


TASK = "/tasks/{task_id}"
SCHEDULE = "/schedules/{schedule_id}"
PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/tasks": {
        "get": _op(
            "list_tasks",
            "List tasks: filters, a sort and cursor pages",
            {200: ("a page of tasks", s.TaskPage)},
            query=s.TaskListQuery,
            description="Pages follow (sort key, id): a task inserted while you page never shifts the rows "
            "you have not seen; a task whose sort key changes meanwhile (last_updated_at, cost_usd) may move.",
        ),
        "post": _op(
            "create_task",
            "Queue a task (the CLI's validation)",
            {201: ("the task as stored; Location gives its URL", s.TaskDetail)},
            (400, 409, 413, 415, 422),
            body=s.TaskCreate,
        ),
    },
    "/tasks/batch": {
        "post": _op(
            "create_tasks_batch",
            "Queue up to 1,000 tasks in one all-or-nothing batch",
            {201: ("the new tasks' ids, in the order given", s.TaskBatchCreated)},
            (400, 409, 413, 415, 422),
            body=s.TaskBatchCreate,
            description=f"Each task as for POST /tasks. At most {s.MAX_TASK_BATCH:,} tasks and "
            f"{MAX_BATCH_BYTES:,} bytes (413). Every task is checked before anything is written; a refused "
            "one (details.field names it, e.g. tasks[3].priority, and details.index its place) or an "
            "external_id already taken (409) stores nothing.",
        ),
    },
    TASK: {
        "get": _op(
            "get_task",
            "One task: every field, progress, tags and database figures",
            {200: ("the task", s.TaskDetail)},
            (400, 404),
            path=("task_id",),
        ),
        "delete": _op(
            "delete",
            "Delete a finished task with its events, calls and activity",
            {204: ("deleted; the analytics hours it counted in were rebuilt", None)},
            (400, 404, 409),
            path=("task_id",),
        ),
    },
    TASK + "/cancel": {
        "post": _op(
            "cancel_task",
            "Cancel: a queued task at once; a running one is asked to stop",
            {200: ("the task's status now", s.TaskAction)},
            (400, 404, 409),
            path=("task_id",),
        )
    },
    TASK + "/retry": {
        "post": _op(
            "retry_task",
            "Send a finished task back to the queue (attempt + 1)",
            {200: ("the task's status now", s.TaskAction)},
            (400, 404, 409),
            path=("task_id",),
        )
    },
    TASK + "/timeline": {
        "get": _op(
            "timeline",
            "Every event of the task in seq order (the websocket's messages)",
            {200: ("a page of events", s.TimelinePage)},
            (400, 404),
            query=s.PageQuery,
            path=("task_id",),
        )
    },
    TASK + "/activity": {
        "get": _op(
            "activity",
            "The task's activity lines by id",
            {200: ("a page of lines", s.ActivityPage)},
            (400, 404),
            query=s.PageQuery,
            path=("task_id",),
        )
    },
    "/invocations/{invocation_id}": {
        "get": _op(
            "get_invocation",
            "One model or tool call with its activity lines",
            {200: ("the call", s.InvocationDetail)},
            (400, 404),
            path=("invocation_id",),
        )
    },
    TASK + "/calls": {
        "get": _op(
            "call_tree",
            "The task's calls as a tree (llm, tool, agent, retriever, other) with durations, tokens and cost",
            {200: ("the calls, nested under their parents", CallTree)},
            (400, 404),
            path=("task_id",),
        )
    },
    "/calls/{call_id}": {
        "get": _op(
            "get_call",
            "One call with its duration and messages (a tool's arguments and result)",
            {200: ("the call", CallDetail)},
            (400, 404),
            path=("call_id",),
        )
    },
    "/search": {
        "get": _op(
            "search_calls",
            "Full-text search over calls' messages across tasks",
            {200: ("matching tasks with their matching calls", SearchResult)},
            query=SearchQuery,
            description="Every word must appear (any case; SQLite FTS5 terms, PostgreSQL `simple` full text). "
            "Indexed: the user and assistant text of calls reported with messages (OTLP spans, `call` events).",
        )
    },
    "/latency": {
        "get": _op(
            "latency",
            "Call latency percentiles (p50/p95/p99) by model, role or tool over a range",
            {200: ("a row per model, role or tool, busiest first", Latency)},
            query=LatencyQuery,
            description="Durations are the producer's own (client `at`, span start and end), exact: one "
            "sort per group in the database.",
        )
    },
    "/events": {
        "post": _op(
            "ingest",
            "Report events of external tasks in one all-or-nothing batch",
            {200: ("recorded (events already recorded by an earlier batch are skipped)", BatchResult)},
            (400, 404, 409, 413, 415, 422),
            body=EventBatch,
            description=f"At most {MAX_EVENTS:,} events and {MAX_BATCH_BYTES:,} bytes (413 past either). "
            "Every event is checked before anything is written; a bad one rejects the batch (details.index "
            "and details.field name it) and nothing is stored. Events are recorded in batch order per task, "
            "at their `at` when given (within the server's skew window, else 422), else the server's clock. "
            "A replayed event_id of the same task is skipped.",
        )
    },
    "/schedules": {
        "get": _op(
            "list_schedules",
            "Task schedules with their next fire times",
            {200: ("schedules", ss.ScheduleList)},
        ),
        "post": _op(
            "create_schedule",
            "Schedule a recurring task: a template and a cron expression (in a time zone) or an interval",
            {201: ("the schedule as stored; Location gives its URL", ss.ScheduleDetail)},
            (400, 409, 413, 415, 422),
            body=ss.ScheduleCreate,
            description="Give exactly one of cron and interval_seconds. A bad cron expression or time zone is a "
            "422 naming the field (details.field). Every fire time makes exactly one task, however many "
            "workers run; catch_up latest runs the latest missed time once, skip runs none later than 60 s.",
        ),
    },
    SCHEDULE: {
        "get": _op(
            "get_schedule",
            "One schedule with its newest tasks and their outcomes",
            {200: ("the schedule", ss.ScheduleDetail)},
            (400, 404),
            path=("schedule_id",),
        ),
        "put": _op(
            "update_schedule",
            "Replace a schedule's template, trigger and policies",
            {200: ("the schedule as stored", ss.ScheduleDetail)},
            (400, 404, 409, 413, 415, 422),
            path=("schedule_id",),
            body=ss.ScheduleCreate,
            description="Checked as on creation (a bad cron expression or time zone is a 422 naming the field). "
            "Its runs and on/off state are kept (`enabled` is ignored: use pause and resume); a changed trigger "
            "of an enabled schedule starts from now, so the new trigger's past fire times never run.",
        ),
        "delete": _op(
            "delete_schedule",
            "Delete a schedule (the tasks it made stay)",
            {204: ("deleted", None)},
            (400, 404),
            path=("schedule_id",),
        ),
    },
    SCHEDULE + "/pause": {
        "post": _op(
            "pause_schedule",
            "Switch a schedule off",
            {200: ("the schedule", ss.ScheduleDetail)},
            (400, 404),
            path=("schedule_id",),
        )
    },
    SCHEDULE + "/resume": {
        "post": _op(
            "resume_schedule",
            "Switch a schedule on again from now (times while it was off never run)",
            {200: ("the schedule", ss.ScheduleDetail)},
            (400, 404),
            path=("schedule_id",),
        )
    },
    "/celery/tasks/{celery_id}/revoke": {
        "post": _op(
            "revoke_celery_task",
            "Revoke a Celery task by its id on every worker (terminate: also kill it if it runs)",
            {200: ("the command was sent", ce.ControlSent)},
            (400, 409, 415, 422),
            path=("celery_id",),
            body=ce.RevokeBody,
        )
    },
    "/celery/rate-limits/{task_name}": {
        "put": _op(
            "set_celery_rate_limit",
            'Set a Celery task type\'s rate limit on every worker ("0" removes it)',
            {200: ("the command was sent; the workers that confirmed", ce.ControlSent)},
            (400, 409, 415, 422),
            path=("task_name",),
            body=ce.RateLimitBody,
        )
    },
    "/celery/workers/{hostname}/pool": {
        "post": _op(
            "resize_celery_pool",
            "Grow or shrink a Celery worker's pool by a number of processes",
            {200: ("the command was sent; the workers that confirmed", ce.ControlSent)},
            (400, 409, 415, 422),
            path=("hostname",),
            body=ce.PoolBody,
        )
    },
    "/celery/queues": {
        "get": _op(
            "celery_queues",
            "Messages waiting in the Celery broker's queues (those recorded tasks were sent to, and celery)",
            {200: ("the queues", ce.QueueList)},
            (400, 409),
        )
    },
    "/workers/{worker_id}/drain": {
        "post": _op(
            "drain_worker",
            "Drain a worker (an id, or a name for every process of it): it finishes what it runs, claims nothing",
            {200: ("the workers acted on", fl.WorkerControl)},
            (400, 404),
            path=("worker_id",),
        )
    },
    "/workers/{worker_id}/resume": {
        "post": _op(
            "resume_worker",
            "Let a drained worker claim again",
            {200: ("the workers acted on", fl.WorkerControl)},
            (400, 404),
            path=("worker_id",),
        )
    },
    "/workers/{worker_id}/stop": {
        "post": _op(
            "stop_worker",
            "Stop a worker gracefully: drained, its process ends once nothing runs",
            {200: ("the workers acted on", fl.WorkerControl)},
            (400, 404),
            path=("worker_id",),
        )
    },
    "/workers/{worker_id}": {
        "delete": _op(
            "forget_worker",
            "Forget an offline worker (its tasks keep its id)",
            {204: ("forgotten", None)},
            (400, 404, 409),
            path=("worker_id",),
        )
    },
    "/limits": {
        "get": _op(
            "list_limits",
            "Concurrency limits per kind or tag, with their use",
            {200: ("limits", fl.LimitList)},
        )
    },
    "/limits/{key}": {
        "put": _op(
            "set_limit",
            "Set a fleet-wide limit of running tasks for kind:<kind> or tag:<tag>, enforced at claim time",
            {200: ("the limit", fl.Limit)},
            (400, 404, 413, 415, 422),
            path=("key",),
            body=fl.LimitSet,
        ),
        "delete": _op("remove_limit", "Remove a limit", {204: ("removed", None)}, (400, 404), path=("key",)),
    },
    "/stats": {"get": _op("stats", "The overview's KPIs", {200: ("the figures", s.Stats)})},
    "/workers": {
        "get": _op(
            "workers",
            "Worker processes, busy and online first",
            {200: ("workers", s.WorkerList)},
            query=s.WorkersQuery,
        )
    },
    "/costs": {
        "get": _op(
            "cost_report",
            "Spend and tokens over a range: totals, a breakdown and a series per period",
            {200: ("the figures", s.Costs)},
            query=s.CostsQuery,
        )
    },
    "/exports/{table}.csv": {
        "get": _op(
            "export_csv",
            "A dashboard table as CSV (the page's filters as parameters, as /export/<table>.csv)",
            {200: ("the file", {"text/csv": {"schema": {"type": "string"}}})},
            (400, 404),
            path=("table",),
            description="Tables: tasks, invocations, activity, costs-breakdown, costs-top-tasks, costs-top-calls, "
            "agents-fleet, agents-roles; each takes the parameters of its dashboard page.",
        )
    },
    "/audit": {
        "get": _op(
            "audit_log",
            "The audit log, newest first: who changed which task, token, budget or schedule",
            {200: ("a page of entries", s.AuditPage)},
            query=s.AuditQuery,
        )
    },
    # ---- alerts (dashboard/api/alerts.py) ----
    "/alerts": {
        "get": _op(
            "list_alerts",
            "Alerts, newest first: filters state, severity, rule, acknowledged; paged by id",
            {200: ("a page of alerts", al.AlertPage)},
            query=al.AlertsQuery,
        )
    },
    "/alerts/{alert_id}": {
        "get": _op(
            "get_alert",
            "One alert with each channel's delivery and its acknowledgements",
            {200: ("the alert", al.AlertDetail)},
            (400, 404),
            path=("alert_id",),
        )
    },
    "/alerts/{alert_id}/ack": {
        "post": _op(
            "ack_alert",
            "Acknowledge an open alert (who, a note): its repeat notifications stop",
            {200: ("the alert", al.AlertDetail)},
            (400, 404, 409, 413, 415, 422),
            path=("alert_id",),
            body=al.AckBody,
        )
    },
    "/alerts/rules": {
        "get": _op("list_rules", "Alert rules, built-in ones included", {200: ("rules", al.RuleList)}),
        "post": _op(
            "create_rule",
            "Add a rule",
            {201: ("the rule; Location gives its URL", al.RuleOut)},
            (400, 413, 415, 422),
            body=al.RuleCreate,
            description="A 422's details.field names the field at fault, also for checks across fields "
            "(a threshold the kind needs, a scope the kind cannot narrow to, a channel's url).",
        ),
    },
    "/alerts/rules/{rule_id}": {
        "get": _op("get_rule", "One rule", {200: ("the rule", al.RuleOut)}, (400, 404), path=("rule_id",)),
        "put": _op(
            "update_rule",
            "Change the fields given (the rest stay)",
            {200: ("the rule", al.RuleOut)},
            (400, 404, 413, 415, 422),
            path=("rule_id",),
            body=al.RuleUpdate,
        ),
        "delete": _op(
            "delete_rule",
            "Delete a rule and its alerts (a built-in rule is switched off instead)",
            {204: ("deleted", None)},
            (400, 404),
            path=("rule_id",),
        ),
    },
    "/alerts/silences": {
        "get": _op(
            "list_silences",
            "Silences in force or to come (with expired=true, ended ones too)",
            {200: ("silences", al.SilenceList)},
            query=al.SilencesQuery,
        ),
        "post": _op(
            "create_silence",
            "Silence alerts whose labels match every matcher, for a time",
            {201: ("the silence", al.SilenceOut)},
            (400, 413, 415, 422),
            body=al.SilenceCreate,
        ),
    },
    "/alerts/silences/{silence_id}": {
        "delete": _op(
            "expire_silence",
            "End a silence now (kept for the record)",
            {204: ("ended", None)},
            (400, 404),
            path=("silence_id",),
        )
    },
    # ---- budgets (dashboard/api/budgets.py) ----
    "/budgets": {
        "get": _op(
            "list_budgets",
            "Budgets with their spend this period and the projection to its end",
            {200: ("budgets", bu.BudgetList)},
        ),
        "post": _op(
            "create_budget",
            "Add a budget (per day, week or month; overall, a tag's or a creator's)",
            {201: ("the budget with its figures", bu.BudgetOut)},
            (400, 413, 415, 422),
            body=bu.BudgetCreate,
        ),
    },
    "/budgets/{budget_id}": {
        "delete": _op(
            "delete_budget", "Delete a budget", {204: ("deleted", None)}, (400, 404), path=("budget_id",)
        )
    },
    "/health": {"get": _op("health", "The process is up", {200: ("up", s.Health)})},
    "/ready": {
        "get": _op(
            "ready",
            "Ready: database reachable, migrations current, a worker heartbeat within two leases",
            {200: ("ready", s.Ready), 503: ("not ready; reasons say why", s.Ready)},
        )
    },
    "/metrics": {
        "get": _op(
            "metrics",
            "Prometheus metrics",
            {200: ("text exposition format", {"text/plain": {"schema": {"type": "string"}}})},
        )
    },
    "/openapi.json": {
        "get": _op("openapi", "This document", {200: ("OpenAPI 3.1", {JSON: {"schema": {"type": "object"}}})})
    },
}
PATH_PARAMS = {
    "task_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "schedule_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "invocation_id": {"type": "string"},
    "call_id": {"type": "string"},
    "table": {"type": "string"},
    "alert_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "rule_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "silence_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "budget_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "worker_id": {"type": "string"},
    "celery_id": {"type": "string", "description": "Celery's task id (the task's external_id)"},
    "task_name": {"type": "string", "description": "a Celery task name, e.g. proj.tasks.add"},
    "hostname": {"type": "string", "description": "a Celery worker's hostname, e.g. celery@web-1"},
    "key": {"type": "string", "description": "kind:<kind> or tag:<tag>"},
}


def flask_to_openapi(rule: str) -> str:
    """/tasks/<int(min=1, …):task_id> → /tasks/{task_id}"""
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", r"{\1}", rule)


@functools.cache
def document() -> dict[str, Any]:
    queries = {o["_query"] for ops in PATHS.values() for o in ops.values() if o["_query"] is not None}
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "serialization") for m in RESPONSE_MODELS]
    models += [(m, "validation") for m in [*REQUEST_MODELS, *queries]]
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    roles = {(ep.method.lower(), flask_to_openapi(ep.rule)): ep.role for ep in ENDPOINTS}
    paths: dict[str, Any] = {}
    for path, ops in PATHS.items():
        paths[path] = {}
        for method, spec in ops.items():
            paths[path][method] = _operation(spec, refs, defs["$defs"], roles[(method, path)])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TaskLens API",
            "version": "1.0.0",
            "description": "Live tracking of AI-agent tasks. Every error is "
            '{"error": {"code", "message", "details"}}. Times are UTC, ISO 8601. Each operation names in '
            "x-required-role the role it will need once access control is on (viewer < operator < admin).",
        },
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {"schemas": {k: v for k, v in defs["$defs"].items() if not _is_query(k, queries)}},
    }


def _is_query(name: str, queries: set[type[BaseModel]]) -> bool:
    return any(name == q.__name__ for q in queries)


def _operation(spec: dict[str, Any], refs: Any, defs: dict[str, Any], role: Role) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec["operationId"],
        "summary": spec["summary"],
        "x-required-role": role.value,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": PATH_PARAMS[name]}
            for name in spec["_path"]
        ],
        "responses": {},
    }
    if spec["description"]:
        op["description"] = spec["description"]
    if spec["_query"] is not None:
        op["parameters"] += _query_parameters(spec["_query"], refs, defs)
    if spec["_body"] is not None:
        op["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": refs[(spec["_body"], "validation")]}},
        }
    for status, (description, content) in spec["_ok"].items():
        response: dict[str, Any] = {"description": description}
        if isinstance(content, type):
            response["content"] = {JSON: {"schema": refs[(content, "serialization")]}}
        elif content is not None:
            response["content"] = content
        op["responses"][str(status)] = response
    error_schema = refs[(s.ErrorBody, "serialization")]
    for status in sorted({*spec["_errors"], *GUARD_ERRORS}):
        op["responses"][str(status)] = {
            "description": ERRORS[status],
            "content": {JSON: {"schema": error_schema}},
        }
    return op


def _query_parameters(model: type[BaseModel], refs: Any, defs: dict[str, Any]) -> list[dict[str, Any]]:
    ref = refs[(model, "validation")]["$ref"].rsplit("/", 1)[1]
    properties = defs[ref]["properties"]
    out = []
    for name, field in model.model_fields.items():
        wire = field.alias or name
        schema = dict(properties[wire])
        description = schema.pop("description", None) or field.description
        schema.pop("title", None)
        param: dict[str, Any] = {"name": wire, "in": "query", "required": False, "schema": schema}
        if description:
            param["description"] = description
        if schema.get("type") == "array":
            param["style"], param["explode"] = "form", True
        out.append(param)
    return out


@endpoint("GET", "/openapi.json", Role.VIEWER)
def openapi() -> ResponseReturnValue:
    parse_query(s.NoQuery)
    return Response(json.dumps(document()), mimetype=JSON)
