"""Dashboard layer: the fleet control card — pick a worker, then drain, resume, stop or forget it (db/control/fleet.py,
as the CLI and the API do), each audited as the dashboard's user. On the Agents page with a worker picker; on
a worker's page (`/workers/<id>`) the same card, fixed to that worker. The work is in `act`, a function of
(services, inputs) that tests call directly; the callbacks are registered once, by the Agents page."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, html

from dashboard import access, ids
from dashboard.services import Services
from db.control import fleet
from db.domain.states import WorkerStatus
from db.write.celery_workers import is_celery_worker

PICK = "fleet-control-worker"
RESULT = "fleet-control-result"
NOTE = "fleet-control-note"  # why the buttons are disabled, when they are
ACTIONS = ("drain", "resume", "stop", "forget")
BUTTON = {a: f"fleet-control-{a}" for a in ACTIONS}
ROLE = {"drain": "operator", "resume": "operator", "stop": "operator", "forget": "admin"}
# Outline colours that keep 4.5:1 on white and, with assets/shell.css's dark-mode shades, on the dark card too
# (an outline "warning" is yellow on white: 1.6:1; an outline "dark" is #212529 on the dark card: 1:1).
COLORS = {"drain": "primary", "resume": "success", "stop": "danger", "forget": "secondary"}
NO_WORKERS = "No workers yet: start one with python app.py worker, then control it here."
UNKNOWN_WORKER = "No worker with this id (never seen, or forgotten): nothing to control."
CELERY_HIDDEN = (
    "drain",
    "resume",
    "stop",
)  # meaningless for a Celery worker (db/control/fleet.CeleryWorkers)


def card(worker_id: str | None = None) -> dbc.Card:
    """With `worker_id`, the picker is hidden and holds that worker (the buttons act on it alone). For a Celery
    worker only Forget shows: drain, resume and stop reach TaskLens's own workers only (db/control/fleet.py refuses
    them), and its own controls are the Celery card beside this one; the other buttons stay in the page,
    hidden, for the callback that listens to all four."""
    celery = worker_id is not None and is_celery_worker(worker_id)
    buttons = [
        dbc.Button(
            a.capitalize(),
            id=BUTTON[a],
            color=COLORS[a],
            size="sm",
            outline=True,
            className="me-2",
            style={"display": "none"} if celery and a in CELERY_HIDDEN else None,
        )
        for a in ACTIONS
    ]
    help_text = (
        "A Celery worker: drain, stop or resize it with its Celery controls. Forget: removes it from the list "
        "once offline."
        if celery
        else "Drain: finishes what it runs, claims nothing new. Stop: drains, then the process ends. "
        "Forget: removes an offline worker from the list."
    )
    return dbc.Card(
        [
            dbc.CardHeader("Fleet control" if worker_id is None else "Control"),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            html.Label("worker", htmlFor=PICK, className="visually-hidden"),
                            dbc.Select(
                                id=PICK,
                                options=[]
                                if worker_id is None
                                else [{"label": worker_id, "value": worker_id}],
                                value=worker_id,
                                placeholder="choose a worker",
                                className="mb-2",
                            ),
                        ],
                        hidden=worker_id is not None,
                    ),
                    html.Div(buttons),
                    html.Div(id=NOTE, className="small text-muted mt-1"),
                    html.Div(id=RESULT, className="small mt-2", role="status"),
                    html.Div(help_text, className="small text-muted mt-1"),
                ]
            ),
        ],
        className="mb-3",
    )


def options(svc: Services) -> list[dict[str, str]]:
    """The picker's choices; each carries the worker's status too ("status"), for what its buttons allow."""
    with svc.db.reading() as session:
        rows = fleet.list_workers(session)
    out = []
    for r in rows:
        state = r["status"] if r["status"] == WorkerStatus.OFFLINE.value else (r["control"] or r["status"])
        out.append({"label": f"{r['name']} · {r['id']} ({state})", "value": r["id"], "status": r["status"]})
    return out


def still_online(found: list[dict[str, str]], chosen: str | None) -> str | None:
    """Why Forget cannot act on the chosen worker, or None: fleet.forget refuses a worker that is not offline
    (WorkerStillOnline), so for one online or busy the button shows disabled with this reason instead of
    offering a click that could only be refused."""
    status = next((o.get("status") for o in found if o["value"] == chosen), None)
    if chosen is None or status is None or status == WorkerStatus.OFFLINE.value:
        return None
    return f"Forget: only an offline worker can be forgotten; this one is {status}."


def unavailable(known: list[str], chosen: str | None) -> str | None:
    """Why no button can act, or None: with no worker at all, or one chosen that the fleet does not hold (a
    worker page's unknown id), a click could only be refused, so the buttons show disabled with this reason,
    as Flower and Prefect grey out controls for a worker they do not know."""
    if chosen and chosen not in known:  # first: a worker page says its own worker is unknown
        return UNKNOWN_WORKER
    return NO_WORKERS if not known else None


def controls(found: list[dict[str, str]], chosen: str | None) -> tuple[Any, ...]:
    """The card's state for the fleet `found` (options()) and the chosen worker: the picker's choices, the
    note saying why a button is disabled, and each button's `disabled` (in ACTIONS' order)."""
    reason = unavailable([o["value"] for o in found], chosen)
    online = None if reason else still_online(found, chosen)
    picks = [{"label": o["label"], "value": o["value"]} for o in found]
    if chosen and all(o["value"] != chosen for o in found):
        # A forgotten worker (or one a worker page is about) keeps its entry: the choice stays as made.
        picks.append({"label": chosen, "value": chosen})
    disabled = [reason is not None or (a == "forget" and online is not None) for a in ACTIONS]
    return (picks, reason or online, *disabled)


def act(svc: Services, action: str, worker_id: str | None) -> Any:
    if not worker_id:
        return dbc.Alert("Choose a worker first.", color="secondary", className="py-1 mb-0")
    denied = access.dashboard_denied(svc, ROLE[action])
    if denied:
        return dbc.Alert(denied, color="warning", className="py-1 mb-0")
    try:
        with svc.db.writing() as session:
            done = (
                fleet.forget(session, worker_id)
                if action == "forget"
                else fleet.control(session, worker_id, action)
            )
    except (fleet.WorkerNotFound, fleet.WorkerStillOnline, fleet.CeleryWorkers) as exc:
        return dbc.Alert(str(exc), color="danger", className="py-1 mb-0")
    who = access.dashboard_actor(svc)
    for one in done:
        access.audit(svc, who, f"worker.{action}", f"worker:{one}")
    return dbc.Alert(f"{action}: {', '.join(done)}", color="success", className="py-1 mb-0")


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(PICK, "options"),
        Output(NOTE, "children"),
        *(Output(BUTTON[a], "disabled") for a in ACTIONS),
        Input(ids.SIGNAL, "data"),
        Input(RESULT, "children"),
        Input(PICK, "value"),
    )
    def _options(_signal: Any, _result: Any, chosen: str | None) -> tuple[Any, ...]:
        return controls(options(svc), chosen)

    @app.callback(
        Output(RESULT, "children"),
        *(Input(BUTTON[a], "n_clicks") for a in ACTIONS),
        State(PICK, "value"),
        prevent_initial_call=True,
    )
    def _act(*args: Any) -> Any:
        action = next((a for a in ACTIONS if ctx.triggered_id == BUTTON[a]), None)
        if action is None:
            return dash.no_update
        return act(svc, action, args[-1])
