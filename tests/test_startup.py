"""Tests: what a new process of `python app.py` imports before it does its work — the suite starts workers and
CLI commands as real subprocesses, and a loaded two-core machine pays every module of their start-up again."""

from __future__ import annotations

import subprocess
import sys

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
