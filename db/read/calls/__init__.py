"""Data layer: every read of calls (invocations), over the declared view (db/read/call_view.py): `filters` (the
one CallFilter), `listing` (the calls grid's and the API's pages), `tree` (a task's calls as a tree, latency)."""
