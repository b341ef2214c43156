"""Data layer, fleet control: drain/stop, concurrency limits, singleton leases and task schedules."""
