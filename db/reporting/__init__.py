"""Data layer, reporting: the queries only reports need, report schedules and report runs."""
