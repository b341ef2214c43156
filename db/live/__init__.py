"""Data layer, live side: the change feed's wake-ups and the event log read in seq order for listeners."""
