"""Data layer, read side: tasks, calls, workers and agents for pages, the API and CSV; a view's scope."""
