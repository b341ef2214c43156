"""Data layer: every read of tasks, over the declared view (db/read/task_view.py; `T` there is the tasks Table,
its columns `T.c`): `filters` (the one TaskFilter), `listing` (the grid's and the API's pages), `board` (lanes of
cards), `detail` (one task and its lookups), `history` (its transitions, calls and activity lines)."""
