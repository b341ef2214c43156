"""Reports layer: the report as JSON with a stable, documented schema (reports/SCHEMA.md, "tasklens.report/1"):
times are ISO 8601 UTC with a Z, money in US dollars, ratios between 0 and 1, missing values null."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from db.core.timeutil import iso
from reports.model import COST_COLUMNS, KIND_COLUMNS, ROLE_COLUMNS, WORKER_COLUMNS, Report
from reports.period import Period

SCHEMA = "tasklens.report/1"


def _value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return iso(pd.Timestamp(v).to_pydatetime())
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return None if math.isnan(float(v)) else float(v)
    if v is pd.NaT:
        return None
    return v if isinstance(v, str | list | dict) else str(v)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return [
        {c: _value(v) for c, v in zip(columns, values, strict=True)}
        for values in frame[columns].itertuples(index=False, name=None)
    ]


def _period(p: Period) -> dict[str, Any]:
    return {"kind": p.kind.value, "label": p.label, "start": iso(p.start), "end": iso(p.end)}


def as_dict(report: Report) -> dict[str, Any]:
    """The JSON document as Python data (the schema's field order)."""
    r = report
    return {
        "schema": SCHEMA,
        "title": r.title,
        "generated_at": iso(r.generated_at),
        "as_of": iso(r.as_of),
        "period": _period(r.period),
        "previous_period": _period(r.previous),
        "filters": {"kind": list(r.filters.kind), "tag": list(r.filters.tag)},
        "summary": {
            "kpis": [
                {
                    "key": k.key,
                    "label": k.label,
                    "unit": k.unit.value,
                    "value": _value(k.value),
                    "previous": _value(k.previous),
                    "delta": _value(k.delta),
                    "change": _value(k.change),
                    "trend": k.trend,
                }
                for k in r.kpis
            ],
            "recommendations": [
                {"rule": x.rule, "severity": x.severity.value, "message": x.message}
                for x in r.recommendations
            ],
        },
        "tasks": {
            "by_kind": _records(r.by_kind, KIND_COLUMNS),
            "by_status": _records(r.by_status, ["status", "count"]),
            "volume": {
                "unit": r.volume_unit,
                "buckets": _records(r.volume, ["bucket", "created", "finished", "failed", "cost"]),
            },
        },
        "costs": {
            **{f"by_{dim}": _records(frame, COST_COLUMNS) for dim, frame in r.cost_by.items()},
            "over_time": _records(r.cost_over_time, ["bucket", "model", "cost"]),
            "top_tasks": _records(r.top_tasks, ["task_id", "title", "status", "kind", "cost", "calls"]),
        },
        "agents": {
            "roles": _records(r.roles, ROLE_COLUMNS),
            "workers": _records(r.workers, WORKER_COLUMNS),
        },
        "failures": {
            "reasons": _records(r.failure_reasons, ["status", "reason", "count"]),
            "tasks": _records(r.failed_tasks, list(r.failed_tasks.columns)),
            "stuck": _records(r.stuck_tasks, list(r.stuck_tasks.columns)),
            "budgets": [
                {
                    "name": b.name,
                    "period": b.period,
                    "scope_kind": b.scope_kind,
                    "scope_value": b.scope_value,
                    "limit_usd": b.limit_usd,
                    "period_start": iso(b.period_start),
                    "period_end": iso(b.period_end),
                    "spent": b.spent,
                    "projected": b.projected,
                    "over": b.over,
                    "projected_over": b.projected_over,
                }
                for b in r.budgets
            ],
            "alerts": [
                {"metric": a.metric, "at": iso(a.at), "value": a.value, "threshold": a.threshold}
                for a in r.alerts
            ],
        },
        "alerting": {
            "fired": r.alerting.fired,
            "acknowledged": r.alerting.acknowledged,
            "resolved": r.alerting.resolved,
            "mean_ack_s": _value(r.alerting.mean_ack_s),
            "mean_resolve_s": _value(r.alerting.mean_resolve_s),
            "noisiest": [{"rule": n, "severity": s, "fired": c} for n, s, c in r.alerting.noisiest],
        },
    }


def render_json(report: Report) -> bytes:
    return (json.dumps(as_dict(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
