"""Entry point and CLI: builds the one Settings object from TASKLENS_* variables and flags, and wires the
database, worker and web parts together. `python app.py` runs everything on an SQLite file under ./var."""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from config import Settings, SettingsError

log = logging.getLogger("tasklens")


# ---- argument parsing --------------------------------------------------------------------------------
def _json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, like '{\"key\": 1}'")
    return value


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _count(raw: str) -> int:
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {raw!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {raw}")
    return value


def build_parser() -> argparse.ArgumentParser:
    # Shared options are SUPPRESSed by default so that a subcommand's parser does not overwrite a value given
    # before the subcommand (`python app.py --db URL migrate`).
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--db",
        dest="database_url",
        metavar="URL",
        help="database URL (env TASKLENS_DATABASE_URL; default sqlite:///var/tasklens.db)",
    )
    common.add_argument(
        "--log-level",
        dest="log_level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (env TASKLENS_LOG_LEVEL; default INFO)",
    )
    common.add_argument(
        "--log-format",
        dest="log_format",
        choices=["text", "json"],
        help="log lines as text or one JSON object each (env TASKLENS_LOG_FORMAT; default text)",
    )
    web = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    web.add_argument("--host", help="address to listen on (env TASKLENS_HOST; default 127.0.0.1)")
    web.add_argument("--port", type=_positive_int, help="port (env TASKLENS_PORT; default 8050)")
    wrk = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    wrk.add_argument(
        "--concurrency",
        dest="worker_concurrency",
        type=_positive_int,
        help="tasks run at once (env TASKLENS_WORKER_CONCURRENCY; default 4)",
    )
    wrk.add_argument(
        "--name", dest="worker_name", help="worker name (env TASKLENS_WORKER_NAME; default host)"
    )
    wrk.add_argument(
        "--kinds",
        dest="worker_kinds",
        help="claim only these kinds, comma-separated (env TASKLENS_WORKER_KINDS; default all)",
    )
    wrk.add_argument(
        "--tags",
        dest="worker_tags",
        help="claim only tasks carrying one of these tags (env TASKLENS_WORKER_TAGS; default any)",
    )
    wrk.add_argument(
        "--lease-seconds",
        dest="lease_seconds",
        type=_positive_float,
        help="lease a running task holds; a silent worker's tasks are recovered after it",
    )

    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="TaskLens: live tracking, analytics and reports for AI-agent tasks. "
        "Without a command it runs web + worker on an SQLite file under ./var.",
        parents=[common, web, wrk],
    )
    parser.add_argument(
        "--demo", action="store_true", default=argparse.SUPPRESS, help="keep a live demo workload running"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("all", parents=[common, web, wrk], help="web + worker in one process (the default)")
    p.add_argument(
        "--demo", action="store_true", default=argparse.SUPPRESS, help="keep a live demo workload running"
    )
    sub.add_parser("web", parents=[common, web], help="the web dashboard and API only")
    sub.add_parser("worker", parents=[common, wrk], help="a worker process only")
    p = sub.add_parser(
        "celery",
        parents=[common],
        help="record a Celery broker's task and worker events (the Celery source)",
        description="Consume the events of the Celery workers on a broker and record them as tasks of kind "
        "celery and as workers. Example: python app.py celery --broker redis://127.0.0.1:6379/0",
    )
    p.add_argument(
        "--broker",
        dest="celery_broker",
        metavar="URL",
        help="the Celery broker, redis://… or amqp://… (env TASKLENS_CELERY_BROKER)",
    )
    p = sub.add_parser("migrate", parents=[common], help="bring the database schema up to date")
    p.add_argument("--revision", default="head", help="target revision (default head)")

    p = sub.add_parser(
        "submit",
        parents=[common],
        help="submit a task",
        description="Submit a task. Example: python app.py submit --title hello --command 'echo hi'",
    )
    p.add_argument(
        "--kind",
        choices=["command", "python", "demo", "external"],
        help="task kind (default: command with --command, python with --callable)",
    )
    p.add_argument("--title", help="title / goal of the task (required unless --from-file)")
    p.add_argument(
        "--from-file",
        metavar="FILE",
        help="queue every task of a JSON-lines file (one object a line, the fields of POST /api/v1/tasks, "
        "'-' for stdin), all or none",
    )
    p.add_argument("--command", dest="shell_command", help="shell command of a command task")
    p.add_argument("--callable", help="dotted path of a python task, e.g. worker.examples:count_to")
    p.add_argument("--payload", type=_json_object, default={}, help="payload as a JSON object")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (-1000..1000)")
    p.add_argument("--tag", action="append", default=[], help="a tag; repeat or comma-separate")
    p.add_argument("--max-attempts", type=_positive_int, default=1, help="runs allowed, retries included")
    p.add_argument("--max-iterations", type=_positive_int, help="expected iterations")
    p.add_argument("--timeout", type=_positive_float, help="seconds before the task is timed_out")
    p.add_argument("--created-by", default="", help="who submits it (default: cli)")
    p.add_argument("--wait", action="store_true", help="wait until it ends; exit 0 only if it completed")
    p.add_argument(
        "--wait-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="with --wait: give up after this long (exit 3)",
    )

    for name, help_ in (
        ("cancel", "cancel a task"),
        ("retry", "send a finished task back to the queue"),
        ("show", "print a task and its events as JSON"),
    ):
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("task_id", type=_positive_int, help="task id")
        if name == "show":
            p.add_argument("--events", action="store_true", help="include every event")

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="submit a live demo workload or generate history",
        description="Submit demo tasks for a running worker, or with --history N write N "
        "realistic finished tasks (events, invocations, costs) straight into the database.",
    )
    p.add_argument(
        "--count",
        type=_count,
        default=None,
        help="live demo tasks to submit (default 10; none with --history unless given)",
    )
    p.add_argument("--speed", type=_positive_float, default=1.0, help="demo speed factor (default 1)")
    p.add_argument("--history", type=_count, default=0, metavar="N", help="generate N historical tasks")
    p.add_argument("--days", type=_positive_int, default=90, help="history spans this many days (default 90)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the history")

    p = sub.add_parser(
        "report",
        parents=[common],
        help="write a report of a period (HTML, PDF, CSV, JSON)",
        description="Write the report of a period. Without --from, daily / weekly / monthly is the last "
        "complete day, ISO week or month; with it, the one containing that date. Times are UTC. Example: "
        "python app.py report --period weekly --format html,pdf --out reports-out",
    )
    p.add_argument("--period", default="weekly", help="daily, weekly, monthly or custom (default weekly)")
    p.add_argument(
        "--from", dest="start", metavar="ISO", help="a date or time in the period (custom: its start)"
    )
    p.add_argument("--to", dest="end", metavar="ISO", help="custom: the end of the period (exclusive)")
    p.add_argument(
        "--format", dest="formats", default="html,pdf,csv,json", help="comma-separated (default all four)"
    )
    p.add_argument(
        "--out", default="reports-out", metavar="DIR", help="folder to write to (default reports-out)"
    )
    p.add_argument(
        "--kind", action="append", default=[], help="only tasks of this kind; repeat or comma-separate"
    )
    p.add_argument(
        "--tag", action="append", default=[], help="only tasks with this tag; repeat or comma-separate"
    )

    p = sub.add_parser(
        "token",
        parents=[common],
        help="create, list or revoke API tokens",
        description="API tokens for the REST API and the dashboard's sign-in. Example: "
        "python app.py token create --role operator --name ci",
    )
    token_sub = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    t = token_sub.add_parser("create", parents=[common], help="make a token and print its secret once")
    t.add_argument("--role", required=True, choices=["viewer", "operator", "admin"], help="what it may do")
    t.add_argument("--name", required=True, help="who or what uses it, e.g. ci or alice")
    token_sub.add_parser("list", parents=[common], help="the tokens (never their secrets)")
    t = token_sub.add_parser("revoke", parents=[common], help="revoke a token at once")
    t.add_argument("token_id", type=_positive_int, metavar="ID", help="token id (see token list)")

    p = sub.add_parser(
        "alerts",
        parents=[common],
        help="list, acknowledge or silence alerts",
        description="Alerts (README: Alerts). Example: python app.py alerts silence severity=low --hours 8",
    )
    alert_sub = p.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    a = alert_sub.add_parser("list", parents=[common], help="open alerts (pending and firing), newest first")
    a.add_argument(
        "--state", action="append", default=[], choices=["pending", "firing", "resolved"], help="repeatable"
    )
    a.add_argument("--limit", type=_positive_int, default=50, help="at most this many (default 50)")
    a.add_argument("--json", action="store_true", help="as JSON, as the API answers")
    alert_sub.add_parser(
        "rules", parents=[common], help="the alert rules (edit them with the API or the page)"
    )
    a = alert_sub.add_parser("ack", parents=[common], help="acknowledge an open alert (its repeats stop)")
    a.add_argument("alert_id", type=_positive_int, metavar="ID", help="alert id (see alerts list)")
    a.add_argument("--note", default="", help="what you are doing about it")
    a = alert_sub.add_parser("silence", parents=[common], help="silence alerts whose labels all match")
    a.add_argument(
        "matchers",
        nargs="+",
        metavar="LABEL=VALUE",
        help="e.g. severity=low rule='Stuck task' task_kind=demo",
    )
    a.add_argument("--hours", type=_positive_float, default=2.0, help="how long (default 2)")
    a.add_argument("--comment", default="", help="why")
    a = alert_sub.add_parser("unsilence", parents=[common], help="end a silence now")
    a.add_argument("silence_id", type=_positive_int, metavar="ID", help="silence id")

    from cli.data import add_parsers as add_data_parsers
    from cli.fleet import add_parsers as add_fleet_parsers
    from cli.schedules import add_parser as add_schedule_parser

    add_schedule_parser(sub, common)
    add_fleet_parsers(sub, common)
    add_data_parsers(sub, common)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    keys = (
        "database_url",
        "log_level",
        "host",
        "port",
        "worker_concurrency",
        "worker_name",
        "lease_seconds",
        "celery_broker",
    )
    return Settings.from_env(**{k: getattr(args, k, None) for k in keys})


def safe_url(raw: str) -> str:
    """The database URL with any password masked, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


# ---- commands ----------------------------------------------------------------------------------------
class Stack:
    """The parts of one process, opened once from Settings."""

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        from db.core.engine import open_database
        from db.core.migrate import upgrade
        from db.live.changefeed import Hub
        from db.write.recorder import Recorder

        self.settings = settings
        self.db = open_database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            redact=settings.redact_patterns(),
        )
        if migrate:
            upgrade(self.db)
        self.hub = Hub()
        self.recorder = Recorder(self.db, self.hub)
        self.stop = threading.Event()

    def watch(self) -> None:
        from db.live.changefeed import start_watcher

        start_watcher(self.db, self.hub, self.stop)

    def close(self) -> None:
        self.stop.set()
        self.db.dispose()


def _install_sigterm() -> None:
    def handler(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _where(settings: Settings) -> str:
    path = settings.sqlite_path
    return f"SQLite file {path}" if path else "PostgreSQL"


def _listen(settings: Settings) -> socket.socket | None:
    """The web server's listening socket, bound before anything else starts (a taken port must not leave a
    worker running queued tasks); None after printing one line saying why it cannot be had."""
    try:
        family = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((settings.host, settings.port), family=family, backlog=128)
    except OSError as exc:
        why = (
            "the port is in use by another program" if exc.errno == errno.EADDRINUSE else exc.strerror or exc
        )
        print(
            f"error: cannot listen on {settings.host}:{settings.port}: {why}. "
            "Choose another with --port or TASKLENS_PORT.",
            file=sys.stderr,
        )
        return None


def cmd_run(args: argparse.Namespace, settings: Settings, *, web: bool, worker: bool) -> int:
    from dashboard.exposure import resolve
    from worker.demo_workload import trickle
    from worker.worker import Worker

    listener = _listen(settings) if web else None
    if web and listener is None:
        return 2
    if listener is not None:
        host, port = listener.getsockname()[:2]
        settings, mode = resolve(settings, [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"])
    stack = Stack(settings)
    stack.watch()
    _install_sigterm()
    # A worker stopped through fleet control ends a worker-only process; beside the web it just stops.
    on_fleet_stop = None if web else stack.stop.set
    w = Worker(settings, stack.db, stack.recorder, stack.hub, on_fleet_stop=on_fleet_stop) if worker else None
    try:
        if w:
            w.start()
        if worker and settings.celery_broker:
            from worker.celerysource.consumer import CeleryConsumer

            CeleryConsumer(settings, stack.recorder, stack.stop).start()
        if getattr(args, "demo", False):
            threading.Thread(
                target=trickle,
                args=(stack.recorder, stack.stop, settings.demo_speed),
                name="demo-trickle",
                daemon=True,
            ).start()
        if listener is not None:
            from werkzeug.serving import make_server

            app = build_web(stack)
            url = f"http://{settings.host}:{settings.port}/"
            print(f"TaskLens is running at {url}  ({_where(settings)}; Ctrl-C to stop)", flush=True)
            print(mode.line(), flush=True)
            server = make_server(
                settings.host, settings.port, app.server, threaded=True, fd=listener.fileno()
            )
            server.serve_forever()
        else:
            print(
                f"TaskLens worker {w.identity.id if w else ''} running ({_where(settings)}; Ctrl-C to stop)",
                flush=True,
            )
            # Sleep, not stop.wait(): SIGTERM raises KeyboardInterrupt here, and raised inside Event.wait it can leave
            # the event's lock held, so the `stop.set()` below waited for ever (a worker outlived its SIGTERM).
            while not stack.stop.is_set():
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop.set()
        if w:
            w.stop()
        stack.close()
        if listener is not None:
            listener.close()
    return 0


def configure_logging(settings: Settings) -> None:
    from jsonlog import configure

    configure(settings.log_level, settings.log_format)
    for noisy in ("apscheduler", "werkzeug", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_web(stack: Stack) -> Any:
    """The Dash app of one web process, with its change-feed listener started."""
    from dashboard.bridge import ChangeFeed
    from dashboard.server import create_app
    from dashboard.services import Services

    feed = ChangeFeed(stack.db, stack.hub)
    feed.start(stack.stop)
    app = create_app(Services(stack.settings, stack.db, stack.recorder, feed))
    # What start-up built (Dash's layout and registry, SQLAlchemy, plotly, pandas) lives as long as the
    # process: frozen, the collector's full passes no longer walk it every few hundred requests. Measured:
    # 7-10% more events/s through POST /api/v1/events (bench/bench_api.py). Start-up's garbage is collected
    # first, or freezing would keep it for good.
    gc.collect()
    gc.freeze()
    return app


def create_wsgi() -> Any:
    """WSGI factory for running web processes under gunicorn (settings from TASKLENS_* variables):
    gunicorn -k gthread --threads 64 -w 4 -b 0.0.0.0:8050 'app:create_wsgi()'. TASKLENS_HOST does not reach
    gunicorn, so with TASKLENS_AUTH=auto access control follows the sockets gunicorn really listens on: off
    only when all of them are loopback, on when any is not or they cannot be read."""
    from dashboard.exposure import listening_addresses, resolve

    settings, mode = resolve(Settings.from_env(), listening_addresses())
    configure_logging(settings)
    log.warning("pid %d: %s", os.getpid(), mode.line())
    stack = Stack(settings)
    stack.watch()
    return build_web(stack).server


def cmd_celery(args: argparse.Namespace, settings: Settings) -> int:
    from worker.celerysource.consumer import CeleryConsumer, masked

    if not settings.celery_broker:
        print("error: give the Celery broker: --broker URL or TASKLENS_CELERY_BROKER", file=sys.stderr)
        return 2
    stack = Stack(settings)
    _install_sigterm()
    consumer = CeleryConsumer(settings, stack.recorder, stack.stop)
    print(
        f"TaskLens is recording the Celery events of {masked(settings.celery_broker)} "
        f"({_where(settings)}; Ctrl-C to stop)",
        flush=True,
    )
    try:
        consumer.run()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop.set()
        stack.close()
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from db.core.engine import open_database
    from db.core.migrate import upgrade

    db = open_database(settings.database_url)
    try:
        revision = upgrade(db, args.revision)
    finally:
        db.dispose()
    print(f"database at revision {revision} ({_where(settings)})")
    return 0


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from db.domain.ops import TaskSpec
    from db.domain.states import TaskKind

    if args.from_file:
        return _submit_file(args, settings)
    if (
        args.title is None
    ):  # not required by the parser, since --from-file needs none; an empty one is a spec error
        print("error: the following arguments are required: --title (or give --from-file)", file=sys.stderr)
        return 2
    payload = dict(args.payload)
    if args.shell_command:
        payload["command"] = args.shell_command
    if args.callable:
        payload["callable"] = args.callable
    kind = args.kind or ("command" if "command" in payload else "python" if "callable" in payload else "")
    if not kind:
        print(
            "error: say what to run: --command '…', --callable pkg.module:func, or --kind demo",
            file=sys.stderr,
        )
        return 2
    tags = [t for raw in args.tag for t in raw.split(",")]
    spec = TaskSpec(
        title=args.title,
        kind=TaskKind(kind),
        payload=payload,
        priority=args.priority,
        tags=tuple(tags),
        created_by=args.created_by,
        max_attempts=args.max_attempts,
        max_iterations=args.max_iterations,
        timeout_seconds=args.timeout,
    )
    stack = Stack(settings)
    try:
        task_id = stack.recorder.submit(spec, actor="cli")
        _audit(stack, "task.create", task_id)
        print(f"submitted task {task_id}", flush=True)
        if not args.wait:
            return 0
        return _wait_for(stack, task_id, args.wait_timeout)
    finally:
        stack.close()


def _submit_file(args: argparse.Namespace, settings: Settings) -> int:
    """All the file's tasks in one transaction, or none (exit 2 naming the line and field)."""
    from sqlalchemy.exc import IntegrityError

    from cli.taskfile import TaskFileError, read_specs
    from db.access.audit import record
    from db.core.timeutil import utcnow

    try:
        if args.from_file == "-":
            specs = read_specs(sys.stdin)
        else:
            with open(args.from_file, encoding="utf-8") as fh:
                specs = read_specs(fh)
    except OSError as exc:
        print(f"error: cannot read {args.from_file}: {exc.strerror}", file=sys.stderr)
        return 2
    except TaskFileError as exc:
        print(f"error: {args.from_file}: {exc}; nothing was submitted", file=sys.stderr)
        return 2
    if not specs:
        print(f"error: {args.from_file} holds no task", file=sys.stderr)
        return 2
    stack = Stack(settings)
    try:
        try:
            ids = stack.recorder.submit_many(specs, actor="cli")
        except IntegrityError:
            print("error: an external_id of the file is taken; nothing was submitted", file=sys.stderr)
            return 2
        with stack.db.writing() as session:
            now = utcnow()
            for task_id in ids:
                record(
                    session, "cli", "task.create", f"task:{task_id}", {"via": "cli", "file": True}, now=now
                )
        print(f"submitted {len(ids)} tasks ({ids[0]}..{ids[-1]})", flush=True)
        return 0
    finally:
        stack.close()


def _audit(stack: Stack, action: str, task_id: int) -> None:
    """The audit row of a task change made here, as the API and the dashboard write theirs (actor `cli`)."""
    from db.access.audit import record
    from db.core.timeutil import utcnow

    with stack.db.writing() as session:
        record(session, "cli", action, f"task:{task_id}", {"via": "cli"}, now=utcnow())


def _wait_for(stack: Stack, task_id: int, timeout: float | None) -> int:
    from db.domain.states import TaskStatus
    from db.read.tasks.detail import task_record, task_summary

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with stack.db.reading() as session:
            task = task_record(session, task_id)
            if task is None:
                print(f"error: task {task_id} was deleted while waiting", file=sys.stderr)
                return 1
            if TaskStatus(task.status).is_terminal:
                print(json.dumps(task_summary(task), indent=2, default=str))
                return 0 if task.status == TaskStatus.COMPLETED else 1
        if deadline is not None and time.monotonic() > deadline:
            print(
                f"error: task {task_id} is still {task.status} after {timeout:g}s "
                "(is a worker running? `python app.py worker`)",
                file=sys.stderr,
            )
            return 3
        time.sleep(0.2)


def cmd_task_action(args: argparse.Namespace, settings: Settings) -> int:
    from db.read.tasks import history
    from db.read.tasks.detail import task_record, task_summary

    stack = Stack(settings)
    try:
        if args.command == "cancel":
            status = stack.recorder.cancel(args.task_id, actor="cli")
            _audit(stack, "task.cancel", args.task_id)
            print(f"task {args.task_id}: {status}")
        elif args.command == "retry":
            status = stack.recorder.retry(args.task_id, actor="cli")
            _audit(stack, "task.retry", args.task_id)
            print(f"task {args.task_id}: {status}")
        else:
            with stack.db.reading() as session:
                task = task_record(session, args.task_id)
                if task is None:
                    print(f"error: task {args.task_id} does not exist", file=sys.stderr)
                    return 1
                out: dict[str, Any] = task_summary(task)
                if args.events:
                    out["events"] = [
                        {
                            "seq": e.seq,
                            "type": e.type,
                            "from": e.from_status,
                            "to": e.to_status,
                            "at": e.at.isoformat(),
                            "payload": e.payload,
                        }
                        for e in history.events(session, args.task_id)
                    ]
            print(json.dumps(out, indent=2, default=str))
        return 0
    finally:
        stack.close()


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from worker.demo_workload import demo_specs

    stack = Stack(settings)
    try:
        if args.history:
            from worker.history import generate_history

            last = [time.monotonic()]

            def report(done: int) -> None:
                if time.monotonic() - last[0] > 2.0:
                    last[0] = time.monotonic()
                    print(f"  … {done:,} tasks", flush=True)

            stats = generate_history(stack.db, args.history, days=args.days, seed=args.seed, progress=report)
            print(
                f"generated {stats.tasks:,} historical tasks ({stats.events:,} events, "
                f"{stats.invocations:,} invocations, {stats.activity:,} activity lines) "
                f"in {stats.seconds:.1f}s"
            )
            from db.analytics import rollups
            from db.core.timeutil import utcnow

            started = time.monotonic()
            with stack.recorder.transaction() as session:  # the analytics read history through the rollup
                rollups.rebuild(session, None)
                rollups.refresh(session, utcnow())
            print(f"built the analytics rollups in {time.monotonic() - started:.1f}s")
        # --history alone writes history only: queued live tasks would surprise whoever just asked for history.
        count = args.count if args.count is not None else (0 if args.history else 10)
        if count:
            ids = stack.recorder.submit_many(demo_specs(random.Random(), count, args.speed), actor="demo")
            print(f"submitted {len(ids)} demo tasks ({ids[0]}–{ids[-1]}); a running worker picks them up")
        return 0
    finally:
        stack.close()


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from db.core.timeutil import utcnow
    from reports.cli import ReportArgumentError, parse_request, run

    now = utcnow()
    try:
        request = parse_request(
            args.period, args.start, args.end, args.formats, args.out, args.kind, args.tag, now=now
        )
    except ReportArgumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stack = Stack(settings)
    try:
        paths = run(stack.db, request, now=now, stuck_after=timedelta(seconds=settings.stuck_after_seconds))
    except OSError as exc:
        print(f"error: cannot write the report to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()
    for path in paths:
        print(path)
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from cli import tokens as token_cli

    stack = Stack(settings)
    try:
        if args.token_command == "create":
            return token_cli.create(stack.db, args.name, args.role)
        if args.token_command == "revoke":
            return token_cli.revoke(stack.db, args.token_id)
        return token_cli.show_all(stack.db)
    except token_cli.TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.close()


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from cli import alerts as alert_cli

    stack = Stack(settings)
    try:
        if args.alerts_command == "ack":
            return alert_cli.ack(stack.recorder, args.alert_id, args.note)
        if args.alerts_command == "silence":
            return alert_cli.silence(stack.recorder, args.matchers, args.hours, args.comment)
        if args.alerts_command == "unsilence":
            return alert_cli.unsilence(stack.recorder, args.silence_id)
        if args.alerts_command == "rules":
            return alert_cli.rules(stack.recorder)
        return alert_cli.show(stack.recorder, args.state, args.json, args.limit)
    except alert_cli.AlertCliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from cli import schedules as schedule_cli

    stack = Stack(settings)
    try:
        return schedule_cli.run(args, stack.db)
    finally:
        stack.close()


def cmd_fleet(args: argparse.Namespace, settings: Settings) -> int:
    from cli import fleet as fleet_cli

    stack = Stack(settings)
    try:
        return (
            fleet_cli.run_fleet(args, stack.db)
            if args.command == "fleet"
            else fleet_cli.run_limit(args, stack.db)
        )
    finally:
        stack.close()


def cmd_data(args: argparse.Namespace, settings: Settings) -> int:
    from cli import data as data_cli

    stack = Stack(settings, migrate=args.command != "restore")
    try:
        if args.command == "restore":
            return data_cli.restore(args, settings, stack.db)
        return data_cli.run(args, settings, stack.db)
    finally:
        stack.close()


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "all": lambda a, s: cmd_run(a, s, web=True, worker=True),
    "web": lambda a, s: cmd_run(a, s, web=True, worker=False),
    "worker": lambda a, s: cmd_run(a, s, web=False, worker=True),
    "migrate": cmd_migrate,
    "celery": cmd_celery,
    "submit": cmd_submit,
    "cancel": cmd_task_action,
    "retry": cmd_task_action,
    "show": cmd_task_action,
    "demo": cmd_demo,
    "report": cmd_report,
    "token": cmd_token,
    "alerts": cmd_alerts,
    "schedule": cmd_schedule,
    "fleet": cmd_fleet,
    "limit": cmd_fleet,
    "prune": cmd_data,
    "archive": cmd_data,
    "import": cmd_data,
    "backup": cmd_data,
    "restore": cmd_data,
    "erase": cmd_data,
    "vacuum": cmd_data,
}


def main(argv: Sequence[str] | None = None) -> int:
    from sqlalchemy.exc import OperationalError

    from db.domain.ops import SpecError
    from db.domain.pricing import PriceFileError
    from db.domain.states import IllegalTransition
    from db.write.writes import TaskNotFound

    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        return COMMANDS[args.command or "all"](args, settings)
    except (SpecError, IllegalTransition, TaskNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except PriceFileError as exc:
        print(f"error: {exc} (TASKLENS_PRICES_FILE)", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(
            f"error: cannot use the database {safe_url(settings.database_url)}: {exc.orig}", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
