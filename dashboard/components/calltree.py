"""Dashboard layer: the task page's call tree (nested calls with kind, duration, tokens and cost), the
message view of one call, and a task's conversation as Markdown. Pure builders of component trees/text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard.components.fmt import duration, money, tokens
from db.read.call_view import CALLS

CALL_OPEN = "call-open"  # pattern-matching id type of a call's "messages" button
KIND_COLORS = {
    "llm": "primary",
    "tool": "warning",
    "agent": "success",
    "retriever": "info",
    "other": "secondary",
}
# Longer texts are folded: the first part shows, the rest opens on a click.
FOLD_AT = 1_200
MAX_ROWS = 1_000


def flatten(forest: list[dict[str, Any]], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    for node in forest:
        out.append((depth, node))
        out += flatten(node["children"], depth + 1)
    return out


def tree_table(forest: list[dict[str, Any]], matches: set[str] | None = None) -> Any:
    """The calls nested under their parents, in start order; each row opens its messages. `matches`: calls
    a search found (marked; the others shown are their ancestors)."""
    rows = flatten(forest)
    if not rows:
        return html.Div("No calls recorded.", className="text-muted small")
    body = []
    for depth, c in rows[:MAX_ROWS]:
        label = c["name"] or c["model"] or c["role"] or c["id"]
        if c["kind"] == "llm" and c["model"] and c["model"] != label:
            label = f"{label} · {c['model']}"
        status = c["status"]
        body.append(
            html.Tr(
                [
                    html.Td(
                        [
                            html.Span("└ " if depth else "", className="text-muted"),
                            dbc.Badge(
                                c["kind"], color=KIND_COLORS.get(c["kind"], "secondary"), className="me-2"
                            ),
                            html.Span(label, className="text-break"),
                        ],
                        style={"paddingLeft": f"{0.3 + 1.2 * depth:.1f}rem"},
                        className="call-name tl-text",
                    ),
                    html.Td(status, className="text-danger" if status == "failed" else ""),
                    html.Td(duration(c.get("duration_s")), className="call-duration"),
                    html.Td(f"{tokens(c['input_tokens'])} / {tokens(c['output_tokens'])}"),
                    html.Td(money(float(c["cost_usd"]))),
                    html.Td(
                        dbc.Button(
                            "messages",
                            id={"type": CALL_OPEN, "id": c["id"]},
                            size="sm",
                            color="link",
                            className="p-0",
                        )
                    ),
                ],
                className="call-row table-warning" if matches and c["id"] in matches else "call-row",
            )
        )
    more = len(rows) - MAX_ROWS
    # Headings of single fields are the declared view's (db/read/call_view.py), as the calls grid's headers.
    heads = (
        "Call",
        *(CALLS[f].heading for f in ("status", "duration_s")),
        "Tokens in/out",
        CALLS["cost_usd"].heading,
        "",
    )
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in heads])), html.Tbody(body)],
        size="sm",
        hover=True,
        responsive=True,
        className="mb-0 call-tree",
    )
    note = [html.Div(f"{more:,} more calls: GET /api/v1/tasks/<id>/calls has them all", className="small")]
    return html.Div([table, *(note if more > 0 else [])])


def _text(value: Any) -> Any:
    """A message body: JSON pretty-printed, long text folded."""
    if value is None:
        return html.Span("–", className="text-muted")
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    style = {"whiteSpace": "pre-wrap", "wordBreak": "break-word"}
    if len(text) <= FOLD_AT:
        return html.Pre(text, className="small mb-1", style=style)
    return html.Details(
        [
            html.Summary(f"{text[: FOLD_AT // 2]} … ({len(text):,} characters: show all)", className="small"),
            html.Pre(text, className="small mb-1", style=style),
        ]
    )


def _message(m: dict[str, Any]) -> Any:
    role = str(m.get("role") or "message")
    color = {"system": "secondary", "user": "primary", "assistant": "success", "tool": "warning"}.get(
        role, "light"
    )
    parts: list[Any] = [dbc.Badge(role, color=color, className="mb-1")]
    if m.get("content") not in (None, ""):
        parts.append(_text(m.get("content")))
    for call in m.get("tool_calls") or []:
        parts += [
            html.Div(f"→ tool call {call.get('name') or ''}", className="small fw-bold"),
            _text(call.get("arguments")),
        ]
    return html.Div(parts, className="border-start ps-2 mb-2 message")


def message_view(call: dict[str, Any] | None) -> Any:
    """One call: what went in and what came out (system / user / assistant / tool messages; a tool's
    arguments and result), errors shown."""
    if call is None:
        return html.Div("This call is gone.", className="text-muted")
    m = call["messages"]
    head = (
        f"{call['kind']} · {call['name'] or call['model'] or call['id']} · {duration(call.get('duration_s'))}"
    )
    sections: list[Any] = [html.H6(head)]
    inputs = m.get("input") or []
    outputs = m.get("output") or []
    if inputs or "arguments" in m:
        sections.append(html.H6("Input", className="mt-3 text-muted"))
        sections += [_message(x) for x in inputs]
        if "arguments" in m:
            sections.append(_text(m["arguments"]))
    if outputs or "result" in m:
        sections.append(html.H6("Output", className="mt-3 text-muted"))
        sections += [_message(x) for x in outputs]
        if "result" in m:
            sections.append(_text(m["result"]))
    if not (inputs or outputs or "arguments" in m or "result" in m):
        sections.append(html.Div("Prompt", className="small text-muted"))
        sections.append(_text(call.get("prompt")))
        sections.append(html.Div("Response", className="small text-muted"))
        sections.append(_text(call.get("response")))
    if call.get("error"):
        sections.append(dbc.Alert(str(call["error"]), color="danger", className="py-1 small mt-2"))
    return html.Div(sections, className="message-view")


def conversation_markdown(title: str, task_id: int, calls: list[dict[str, Any]]) -> str:
    """The task's calls in start order as Markdown: each call's messages, tool arguments and results."""
    lines = [f"# Task {task_id}: {title}", ""]
    for c in calls:
        started = c["started_at"]
        when = (
            started.isoformat(timespec="milliseconds") + "Z"
            if isinstance(started, datetime)
            else str(started)
        )
        label = c["name"] or c["model"] or c["id"]
        lines += [f"## {c['kind']}: {label}", "", f"*{when} · {c['status']}*", ""]
        m = c["messages"]
        for side in ("input", "output"):
            for msg in m.get(side) or []:
                lines += [f"**{msg.get('role') or 'message'}:**", "", _md(msg.get("content")), ""]
                for call in msg.get("tool_calls") or []:
                    lines += [f"*tool call {call.get('name') or ''}:*", "", _md(call.get("arguments")), ""]
        for key, heading in (("arguments", "Arguments"), ("result", "Result")):
            if key in m:
                lines += [f"**{heading}:**", "", _md(m[key]), ""]
        if not (m.get("input") or m.get("output") or "arguments" in m or "result" in m):
            for key in ("prompt", "response"):
                if c.get(key):
                    lines += [f"**{key}:**", "", _md(c[key]), ""]
        if c.get("error"):
            lines += [f"**error:** {c['error']}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _md(value: Any) -> str:
    if value is None:
        return "_(none)_"
    if isinstance(value, str):
        return value
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n```"
