"""Command-line layer: `python app.py schedule add|list|pause|resume|remove` — its arguments and what each action does,
every change written to the audit log as the CLI's. A bad cron, time zone or template exits 2 naming the
field; nothing is stored."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from db.access.audit import record
from db.control.schedule_fire import next_fire
from db.control.task_schedules import (
    ScheduleNotFound,
    ScheduleSpec,
    ScheduleSpecError,
    create,
    list_all,
    parse_end,
    parse_payload,
    remove,
    set_enabled,
)
from db.core.engine import Database
from db.core.timeutil import utcnow
from db.domain.states import TaskKind

ACTOR = "cli"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "schedule",
        parents=[common],
        help="recurring tasks: add, list, pause, resume, remove",
        description='Recurring tasks. Example: python app.py schedule add --cron "*/5 * * * *" --title heartbeat '
        '--command "echo ok"',
    )
    actions = p.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    a = actions.add_parser("add", parents=[common], help="a new schedule (on at once unless --paused)")
    a.add_argument("--name", help="unique name (default: the title)")
    a.add_argument("--title", required=True, help="title of each task it makes")
    a.add_argument(
        "--kind", choices=[k.value for k in TaskKind if k not in (TaskKind.EXTERNAL, TaskKind.CELERY)]
    )
    a.add_argument("--command", dest="shell_command", help="shell command of a command task")
    a.add_argument("--callable", help="dotted path of a python task")
    a.add_argument("--payload", default="{}", help="payload as a JSON object")
    a.add_argument("--tag", action="append", default=[], help="a tag; repeat or comma-separate")
    a.add_argument("--priority", type=int, default=0)
    a.add_argument("--timeout", type=float, help="seconds before each task is timed_out")
    a.add_argument("--max-attempts", type=int, default=1)
    when = a.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='crontab line: minute hour day month weekday, e.g. "0 6 * * 1-5"')
    when.add_argument("--every", type=float, metavar="SECONDS", help="a fixed interval instead of cron")
    a.add_argument("--timezone", default="UTC", help="IANA time zone of the cron expression (default UTC)")
    a.add_argument("--catch-up", choices=["latest", "skip"], default="latest", help="missed fire times")
    a.add_argument("--concurrency", choices=["allow", "skip"], default="allow", help="while one still runs")
    a.add_argument("--max-runs", type=int, help="stop after this many tasks")
    a.add_argument("--until", help="end date/time, ISO 8601 (UTC unless it has an offset)")
    a.add_argument("--paused", action="store_true", help="create it switched off")
    actions.add_parser("list", parents=[common], help="every schedule with its next fire time")
    for name, text in (("pause", "switch off"), ("resume", "switch on again from now"), ("remove", "delete")):
        x = actions.add_parser(name, parents=[common], help=f"{text} a schedule")
        x.add_argument("schedule", help="schedule id or name")


def run(args: argparse.Namespace, db: Database, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        if args.schedule_command == "add":
            return _add(args, db, out)
        if args.schedule_command == "list":
            return _list(db, out)
        return _toggle(args, db, out)
    except ScheduleSpecError as exc:
        print(f"error: {exc.field}: {exc.message}; nothing was stored", file=err)
        return 2
    except ScheduleNotFound as exc:
        print(f"error: {exc}", file=err)
        return 1


def _spec(args: argparse.Namespace) -> ScheduleSpec:
    payload = parse_payload(args.payload)
    if args.shell_command:
        payload["command"] = args.shell_command
    if args.callable:
        payload["callable"] = args.callable
    kind = args.kind or ("command" if "command" in payload else "python" if "callable" in payload else "")
    end_at = parse_end(args.until, "until")
    return ScheduleSpec(
        name=args.name or args.title,
        title=args.title,
        kind=kind,  # type: ignore[arg-type]  # checked (and converted) by the spec, which names the field
        payload=payload,
        tags=tuple(t for raw in args.tag for t in raw.split(",")),
        priority=args.priority,
        timeout_seconds=args.timeout,
        max_attempts=args.max_attempts,
        cron=args.cron,
        interval_seconds=args.every,
        timezone=args.timezone,
        catch_up=args.catch_up,
        concurrency=args.concurrency,
        max_runs=args.max_runs,
        end_at=end_at,
        enabled=not args.paused,
        created_by=ACTOR,
    )


def _add(args: argparse.Namespace, db: Database, out: TextIO) -> int:
    spec = _spec(args)
    now = utcnow()
    with db.writing() as session:
        schedule_id = create(session, spec, now)
        record(session, ACTOR, "schedule.create", f"schedule:{schedule_id}", {"name": spec.name}, now=now)
    print(
        f"schedule {schedule_id} {spec.name!r} added ({_when(spec.cron, spec.interval_seconds, spec.timezone)})",
        file=out,
    )
    return 0


def _toggle(args: argparse.Namespace, db: Database, out: TextIO) -> int:
    now = utcnow()
    action = args.schedule_command
    with db.writing() as session:
        if action == "remove":
            row = remove(session, args.schedule, now, ACTOR)
        else:
            row = set_enabled(session, args.schedule, action == "resume", now, ACTOR)
        record(session, ACTOR, f"schedule.{action}", f"schedule:{row['id']}", {"name": row["name"]}, now=now)
    done = {"pause": "paused", "resume": "resumed", "remove": "removed"}[action]
    print(f"schedule {row['id']} {row['name']!r} {done}", file=out)
    return 0


def _list(db: Database, out: TextIO) -> int:
    now = utcnow()
    with db.reading() as session:
        rows = list_all(session)
    if not rows:
        print("no schedules (python app.py schedule add --help)", file=out)
        return 0
    print(f"{'ID':>4}  {'NAME':<24} {'STATE':<7} {'WHEN':<28} {'RUNS':>5}  NEXT (UTC)", file=out)
    for r in rows:
        nxt = next_fire(r, now)
        state = "on" if r["enabled"] else "paused"
        runs = f"{r['runs']}" + (f"/{r['max_runs']}" if r["max_runs"] else "")
        when = _when(r["cron"], r["interval_seconds"], r["timezone"])[:28]
        at = nxt.isoformat(timespec="seconds") + "Z" if nxt else "-"
        print(f"{r['id']:>4}  {r['name'][:24]:<24} {state:<7} {when:<28} {runs:>5}  {at}", file=out)
    return 0


def _when(cron: str | None, interval: float | None, zone: str) -> str:
    return f"cron {cron} {zone}" if cron else f"every {interval:g} s"
