"""Data layer, alerts: rules, conditions, lifecycle, silences, pauses, the outbox and alert reads."""
