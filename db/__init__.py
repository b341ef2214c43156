"""Data layer: core (engine, schema, clock), domain (states, ops), write (the one write path), live (change feed),
read, analytics (rollup specs), alerts, reporting, access, control and lifecycle — one package per part."""
