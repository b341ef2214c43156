"""Command-line layer: `python app.py fleet list|drain|resume|stop|forget` and `python app.py limit list|set|remove` —
their arguments and what each does, every change written to the audit log as the CLI's."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from db.access.audit import record
from db.control import fleet, limits
from db.core.engine import Database
from db.core.timeutil import utcnow

ACTOR = "cli"


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "fleet",
        parents=[common],
        help="worker processes: list, drain, resume, stop, forget",
        description="Steer the workers. A drained worker finishes what it runs and claims nothing new; stop "
        "drains it and then ends its process; forget removes an offline worker's row. WORKER is an id or a "
        "name (every worker process of that name).",
    )
    actions = p.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="every worker with its state and claim filters")
    for name, text in (
        ("drain", "finish running tasks, claim nothing new"),
        ("resume", "claim again"),
        ("stop", "drain, then end the worker process"),
        ("forget", "remove an offline worker"),
    ):
        x = actions.add_parser(name, parents=[common], help=text)
        x.add_argument("worker", help="worker id or name")
    p = sub.add_parser(
        "limit",
        parents=[common],
        help="concurrency limits per kind or tag across the fleet",
        description="At most N running tasks of a kind or carrying a tag, fleet-wide. "
        "Example: python app.py limit set tag:deploy 2",
    )
    actions = p.add_subparsers(dest="limit_command", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="the limits and how much of each is in use")
    x = actions.add_parser("set", parents=[common], help="set (or change) a limit")
    x.add_argument("key", help="kind:<kind> or tag:<tag>")
    x.add_argument("max_running", type=int, help="tasks that may run at once")
    x = actions.add_parser("remove", parents=[common], help="remove a limit")
    x.add_argument("key", help="kind:<kind> or tag:<tag>")


def run_fleet(
    args: argparse.Namespace, db: Database, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    action = args.fleet_command
    if action == "list":
        with db.reading() as session:
            rows = fleet.list_workers(session)
        print(f"{'ID':<36} {'STATUS':<8} {'CONTROL':<7} {'RUNNING':>7}  CLAIMS", file=out)
        for r in rows:
            claims = ",".join(r["claim_kinds"] or ["all kinds"]) + (
                f" tagged {','.join(r['claim_tags'])}" if r["claim_tags"] else ""
            )
            print(
                f"{r['id'][:36]:<36} {r['status']:<8} {r['control'] or '-':<7} {r['running_count']:>7}  {claims}",
                file=out,
            )
        return 0
    now = utcnow()
    try:
        with db.writing() as session:
            ids = (
                fleet.forget(session, args.worker)
                if action == "forget"
                else fleet.control(session, args.worker, action)
            )
            for worker_id in ids:
                record(session, ACTOR, f"worker.{action}", f"worker:{worker_id}", {}, now=now)
    except fleet.WorkerNotFound as exc:
        print(f"error: {exc}", file=err)
        return 1
    except fleet.WorkerStillOnline as exc:
        print(f"error: {exc} (drain or stop it first)", file=err)
        return 1
    done = {"drain": "drained", "resume": "resumed", "stop": "stopping", "forget": "forgotten"}[action]
    print(f"{done}: {', '.join(ids)}", file=out)
    return 0


def run_limit(
    args: argparse.Namespace, db: Database, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    action = args.limit_command
    if action == "list":
        with db.reading() as session:
            rows = limits.list_limits(session)
        for r in rows:
            print(f"{r['scope']}:{r['value']}  {r['running']}/{r['max_running']} running", file=out)
        if not rows:
            print("no limits (python app.py limit set tag:deploy 2)", file=out)
        return 0
    try:
        key = limits.parse_key(args.key)
        now = utcnow()
        with db.writing() as session:
            if action == "set":
                limits.set_limit(session, key, args.max_running, now)
            elif not limits.remove_limit(session, key):
                print(f"error: no limit {args.key}", file=err)
                return 1
            details = {"max_running": args.max_running} if action == "set" else {}
            record(session, ACTOR, f"limit.{action}", f"limit:{key[0]}:{key[1]}", details, now=now)
    except limits.LimitError as exc:
        print(f"error: {exc.field}: {exc.message}", file=err)
        return 2
    print(
        f"limit {key[0]}:{key[1]} " + (f"set to {args.max_running}" if action == "set" else "removed"),
        file=out,
    )
    return 0
