"""Tests: the audit table's empty states — a log with nothing in it says what it will hold; a filter that matches
nothing says so."""

from __future__ import annotations

from dashboard.components.audit import EMPTY_LOG, NO_MATCH, audit_table


def test_an_empty_log_without_filters_says_what_it_will_hold() -> None:
    assert audit_table([], 100, filtered=False).children == EMPTY_LOG
    assert audit_table([], 100, filtered=True).children == NO_MATCH
    assert "Nothing recorded yet" in EMPTY_LOG and "filters" not in EMPTY_LOG
