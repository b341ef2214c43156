"""Worker layer: the Celery source — a consumer of a Celery broker's events that records them in TaskLens."""
