"""Tests: what a new process of `python app.py` imports before it does its work — the suite starts workers and
CLI commands as real subprocesses, and a loaded two-core machine pays every module of their start-up again."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from werkzeug.routing import Rule

from dashboard.server import create_app
from dashboard.services import Services
from tests.helpers import REPO_ROOT, clean_env

# Imported only when a report is built (reports/runner.py): a worker that builds none never pays for them.
RENDERERS = ("plotly", "reportlab")


def imported_by(module: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded once `module` is imported."""
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return set(done.stdout.split())


def test_a_worker_process_imports_no_report_renderer_until_it_builds_a_report() -> None:
    loaded = imported_by("worker.worker")
    assert {"worker", "reports", "apscheduler"} <= loaded  # the worker and its report runner are there
    assert not loaded & set(RENDERERS), sorted(loaded & set(RENDERERS))


def test_an_app_compiles_no_route_but_its_own(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """werkzeug compiles every rule it binds into Python code, the better part of building an app; the suite
    builds one per API test and per live server. The API's map of known routes (404 or 405?) is built once per
    process, on the first request that needs it, not again with each app."""
    compiled: list[str] = []
    original = Rule.compile

    def counting(rule: Rule) -> Any:
        compiled.append(rule.rule)
        return original(rule)

    monkeypatch.setattr(Rule, "compile", counting)
    app = create_app(svc)
    own = sorted(rule.rule for rule in app.server.url_map.iter_rules())
    assert len(own) > 50 and sorted(compiled) == own
