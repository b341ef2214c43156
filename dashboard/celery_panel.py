"""Dashboard layer: Flower's controls on the pages an operator looks at — on a Celery task's page, revoke or
terminate it and set its task type's rate and time limits; on a Celery worker's page (`/workers/celery@host`),
what it runs with (pool, queues, task types with their limits, asked over the broker), grow, shrink or restart
its pool, add or cancel a queue it consumes, shut it down. Sent through dashboard/celerycontrol.py; each needs
the operator role and is audited as the dashboard's user, like the fleet control card. Terminate and shut down
ask first. The work is in `task_act`, `worker_act` and `worker_info`; the callbacks only route clicks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, html
from kombu.exceptions import OperationalError

from dashboard import access, celerycontrol
from dashboard.services import Services
from db.domain.states import TaskKind
from db.read.tasks.detail import task_record

ROLE = "operator"
HIDDEN = {"display": "none"}

# The task page's card.
TASK_CARD = "celery-task-card"
TASK_INFO = "celery-task-info"  # {"celery_id", "name"} of the page's task
TASK_NAME = "celery-task-name"
TASK_ACTIONS = ("revoke", "terminate", "rate_limit", "time_limit")
TASK_BUTTON = {a: f"celery-task-{a.replace('_', '-')}" for a in TASK_ACTIONS}
RATE = "celery-task-rate"
SOFT = "celery-task-soft"
HARD = "celery-task-hard"
TASK_RESULT = "celery-task-result"

# The worker page's card.
WORKER_CARD = "celery-worker-card"
WORKER_HOST = "celery-worker-host"
WORKER_INFO = "celery-worker-info"
WORKER_REFRESH = "celery-worker-refresh"
WORKER_ACTIONS = ("grow", "shrink", "restart", "add_consumer", "cancel_consumer", "shutdown")
WORKER_BUTTON = {a: f"celery-worker-{a.replace('_', '-')}" for a in WORKER_ACTIONS}
QUEUE = "celery-worker-queue"
WORKER_RESULT = "celery-worker-result"

# `python app.py celery` alone records events; the web process sends commands with its own setting.
NO_BROKER_HINT = (
    "start it with TASKLENS_CELERY_BROKER set to the broker's URL (or run `TASKLENS_CELERY_BROKER=… python app.py`, "
    "which records and controls in one process)."
)
CONFIRMED = ("terminate", "shutdown")  # these ask first: a killed task or a stopped worker cannot be undone


def confirm_ids(action: str) -> tuple[str, str, str]:
    """The confirm dialog of an action: the modal, its yes and its no button."""
    base = f"celery-confirm-{action}"
    return base, f"{base}-yes", f"{base}-no"


def confirm_modal(action: str, title: str, text: str, yes: str) -> dbc.Modal:
    modal, yes_id, no_id = confirm_ids(action)
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(title)),
            dbc.ModalBody(text),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=no_id, color="secondary", outline=True),
                    dbc.Button(yes, id=yes_id, color="danger"),
                ]
            ),
        ],
        id=modal,
        is_open=False,
    )


def _button(label: str, button_id: str, color: str) -> dbc.Button:
    # Outline colours that keep 4.5:1 on white, as the fleet control card's.
    return dbc.Button(label, id=button_id, color=color, size="sm", outline=True, className="me-2 mb-1")


def _field(label: str, field_id: str, placeholder: str, width: str = "7rem") -> html.Div:
    return html.Div(
        [
            html.Label(label, htmlFor=field_id, className="small me-1"),
            dbc.Input(
                id=field_id, size="sm", placeholder=placeholder, style={"width": width}, className="d-inline"
            ),
        ],
        className="d-inline-flex align-items-center me-2 mb-1",
    )


def task_card() -> html.Div:
    """Hidden until the page's task turns out to be a Celery task (`show_task`)."""
    b = TASK_BUTTON
    body = [
        html.Div([_button("Revoke", b["revoke"], "dark"), _button("Terminate…", b["terminate"], "danger")]),
        html.Div(
            "Revoke: no worker will start it. Terminate: also kills it if it runs.",
            className="small text-muted mb-2",
        ),
        html.Div(["Its task type ", html.Code(id=TASK_NAME)], className="small mb-1"),
        html.Div([_field("rate limit", RATE, "10/m"), _button("Set rate limit", b["rate_limit"], "primary")]),
        html.Div(
            [
                _field("soft limit s", SOFT, "none", "5rem"),
                _field("hard limit s", HARD, "none", "5rem"),
                _button("Set time limits", b["time_limit"], "primary"),
            ]
        ),
        html.Div(id=TASK_RESULT, className="small mt-2", role="status"),
    ]
    return html.Div(
        [
            dash.dcc.Store(id=TASK_INFO),
            confirm_modal(
                "terminate",
                "Terminate task",
                "Revoke this task and kill it (SIGTERM) if a worker runs it? It ends as cancelled.",
                "Terminate",
            ),
            dbc.Card([dbc.CardHeader("Celery controls"), dbc.CardBody(body)], className="mb-3"),
        ],
        id=TASK_CARD,
        style=HIDDEN,
    )


def worker_card(hostname: str) -> html.Div:
    b = WORKER_BUTTON
    body = [
        html.Div(id=WORKER_INFO, className="small mb-2", children="asking the worker…"),
        html.Div(
            [
                _button("Grow pool +1", b["grow"], "success"),
                _button("Shrink pool −1", b["shrink"], "dark"),
                _button("Restart pool", b["restart"], "dark"),
                _button("Refresh", WORKER_REFRESH, "secondary"),
            ]
        ),
        html.Div(
            [
                _field("queue", QUEUE, "queue name", "10rem"),
                _button("Add consumer", b["add_consumer"], "success"),
                _button("Cancel consumer", b["cancel_consumer"], "dark"),
            ]
        ),
        html.Div(_button("Shut down…", b["shutdown"], "danger")),
        html.Div(id=WORKER_RESULT, className="small mt-2", role="status"),
    ]
    return html.Div(
        [
            dash.dcc.Store(id=WORKER_HOST, data=hostname),
            confirm_modal(
                "shutdown",
                "Shut down worker",
                f"Shut down {hostname}? It finishes the tasks it runs, then exits; Celery cannot start it again.",
                "Shut down",
            ),
            dbc.Card([dbc.CardHeader("Celery worker"), dbc.CardBody(body)], className="mb-3"),
        ],
        id=WORKER_CARD,
    )


# ---- the work ----------------------------------------------------------------------------------------------
def _alert(text: str, color: str) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-1 mb-0")


def send(
    svc: Services,
    what: str,
    target: str,
    call: Callable[[], list[str] | None],
    details: dict[str, Any] | None = None,
) -> dbc.Alert:
    """Role check, the broker command, its audit row, and what to tell the user: who confirmed, or why not.
    `call` returns the workers that confirmed (None: a command no worker answers)."""
    denied = access.dashboard_denied(svc, ROLE)
    if denied:
        return _alert(denied, "warning")
    try:
        confirmed = call()
    except celerycontrol.NoBroker:
        return _alert(
            f"No Celery broker is configured for this web process: {NO_BROKER_HINT}",
            "danger",
        )
    except celerycontrol.Refused as exc:
        return _alert(f"The worker refused: {exc}", "danger")
    except (OSError, ConnectionError, OperationalError) as exc:
        return _alert(f"The Celery broker cannot be reached: {exc}", "danger")
    access.audit(
        svc,
        access.dashboard_actor(svc),
        f"celery.{what}",
        target,
        {**(details or {}), "confirmed": confirmed},
    )
    if confirmed is None:
        return _alert(f"{what.replace('_', ' ')}: sent", "success")
    if not confirmed:
        return _alert(
            f"{what.replace('_', ' ')}: sent, but no worker answered within a second — is it running?",
            "danger",
        )
    return _alert(f"{what.replace('_', ' ')}: confirmed by {', '.join(confirmed)}", "success")


def _seconds(raw: Any) -> float | None:
    if raw is None or str(raw).strip() == "":
        return None
    value = float(str(raw))
    if not 0 < value <= 86_400 * 7:
        raise ValueError(raw)
    return value


def show_task(svc: Services, task_id: int | None) -> tuple[dict[str, str], dict[str, str] | None, str]:
    """The card's style, the task's Celery id and name, and the name shown: hidden for other kinds."""
    with svc.db.reading() as session:
        t = task_record(session, task_id) if task_id else None
        if t is None or t.kind != TaskKind.CELERY.value or not t.external_id:
            return HIDDEN, None, ""
        return {}, {"celery_id": t.external_id, "name": t.title}, t.title


def task_act(
    svc: Services, action: str, info: dict[str, str] | None, rate: Any, soft: Any, hard: Any
) -> dbc.Alert:
    if not info:
        raise dash.exceptions.PreventUpdate
    broker, celery_id, name = svc.settings.celery_broker, info["celery_id"], info["name"]
    if action in ("revoke", "terminate"):
        terminate = action == "terminate"
        return send(
            svc,
            action,
            f"celery-task:{celery_id}",
            lambda: celerycontrol.revoke(broker, celery_id, terminate=terminate, reply=True),
        )
    if action == "rate_limit":
        value = str(rate or "").strip()
        if not celerycontrol.RATE.match(value):
            return _alert(
                'A rate is tasks per second, minute or hour: "10/m", "2/s", "100/h"; "0" removes.', "warning"
            )
        return send(
            svc,
            action,
            f"celery-task-type:{name}",
            lambda: celerycontrol.rate_limit(broker, name, value),
            {"rate": value},
        )
    try:
        limits = _seconds(soft), _seconds(hard)
    except ValueError:
        return _alert("A time limit is a number of seconds above 0 (empty: no limit).", "warning")
    if limits[0] is not None and limits[1] is not None and limits[0] > limits[1]:
        return _alert("The soft limit must not exceed the hard limit.", "warning")
    return send(
        svc,
        action,
        f"celery-task-type:{name}",
        lambda: celerycontrol.time_limit(broker, name, *limits),
        {"soft": limits[0], "hard": limits[1]},
    )


def worker_act(svc: Services, action: str, hostname: str, queue: Any) -> dbc.Alert:
    broker, target = svc.settings.celery_broker, f"celery-worker:{hostname}"
    if action in ("grow", "shrink"):
        change = 1 if action == "grow" else -1
        return send(
            svc, f"pool_{action}", target, lambda: celerycontrol.resize_pool(broker, hostname, change)
        )
    if action == "restart":
        return send(svc, "pool_restart", target, lambda: celerycontrol.restart_pool(broker, hostname))
    if action == "shutdown":
        return send(svc, action, target, lambda: celerycontrol.shutdown(broker, hostname))
    name = str(queue or "").strip()
    if not celerycontrol.QUEUE_NAME.match(name):
        return _alert("Name the queue first (no spaces).", "warning")
    consume = celerycontrol.add_consumer if action == "add_consumer" else celerycontrol.cancel_consumer
    return send(svc, action, target, lambda: consume(broker, hostname, name), {"queue": name})


def worker_info(svc: Services, hostname: str) -> Any:
    """What the worker says it runs with, or why it cannot be asked."""
    try:
        info = celerycontrol.worker_info(svc.settings.celery_broker, hostname)
    except celerycontrol.NoBroker:
        return html.Span(
            f"This web process has no Celery broker to ask the worker through: {NO_BROKER_HINT}",
            className="text-muted",
        )
    except (OSError, ConnectionError, OperationalError) as exc:
        return _alert(f"The Celery broker cannot be reached: {exc}", "danger")
    if info is None:
        return _alert(
            f"{hostname} did not answer within a second: it is not running or not on this broker.", "danger"
        )
    queues = ", ".join(info["queues"]) or "none"
    return html.Div(
        [
            html.Div(f"Pool: {info['processes']} processes (max concurrency {info['max_concurrency']})"),
            html.Div(f"Consuming: {queues}"),
            html.Div("Task types:"),
            html.Ul([html.Li(html.Code(t)) for t in info["tasks"]], className="mb-0"),
        ]
    )


# ---- callbacks ---------------------------------------------------------------------------------------------
def _register_confirm(app: dash.Dash, action: str, opener: str) -> None:
    modal, yes_id, no_id = confirm_ids(action)

    clicks = (Input(one, "n_clicks") for one in (opener, yes_id, no_id))

    @app.callback(Output(modal, "is_open"), *clicks, prevent_initial_call=True)
    def _toggle(*_: Any) -> bool:  # open on the opener; yes or no closes it
        return bool(ctx.triggered_id == opener)


def _trigger(action: str, button: str) -> str:
    """What performs an action: its button, or for one that asks first, the dialog's yes."""
    return confirm_ids(action)[1] if action in CONFIRMED else button


def _clicked(buttons: dict[str, str]) -> str | None:
    """The action whose button (or confirm's yes) was clicked, not just drawn."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return None
    return next((a for a, b in buttons.items() if ctx.triggered_id == _trigger(a, b)), None)


def _register_actions(
    app: dash.Dash, result: str, buttons: dict[str, str], states: list[State], run: Callable[..., Any]
) -> None:
    """One callback for a card's buttons: `run(action, *states)` says what happened, into `result`."""

    @app.callback(
        Output(result, "children"),
        *(Input(_trigger(a, b), "n_clicks") for a, b in buttons.items()),
        *states,
        prevent_initial_call=True,
    )
    def _act(*args: Any) -> Any:
        action = _clicked(buttons)
        if action is None:
            raise dash.exceptions.PreventUpdate
        return run(action, *args[len(buttons) :])


def register_task(app: dash.Dash, svc: Services, page_task: str) -> None:
    """`page_task`: the task page's store of its task id."""
    _register_confirm(app, "terminate", TASK_BUTTON["terminate"])

    @app.callback(
        Output(TASK_CARD, "style"),
        Output(TASK_INFO, "data"),
        Output(TASK_NAME, "children"),
        Input(page_task, "data"),
    )
    def _show(task_id: int | None) -> Any:
        return show_task(svc, task_id)

    states = [State(TASK_INFO, "data"), State(RATE, "value"), State(SOFT, "value"), State(HARD, "value")]
    _register_actions(app, TASK_RESULT, TASK_BUTTON, states, lambda *a: task_act(svc, *a))


def register_worker(app: dash.Dash, svc: Services) -> None:
    _register_confirm(app, "shutdown", WORKER_BUTTON["shutdown"])

    @app.callback(
        Output(WORKER_INFO, "children"),
        Input(WORKER_HOST, "data"),
        Input(WORKER_REFRESH, "n_clicks"),
        Input(WORKER_RESULT, "children"),
    )
    def _info(hostname: str, *_: Any) -> Any:
        return worker_info(svc, hostname)

    states = [State(WORKER_HOST, "data"), State(QUEUE, "value")]
    _register_actions(app, WORKER_RESULT, WORKER_BUTTON, states, lambda *a: worker_act(svc, *a))
