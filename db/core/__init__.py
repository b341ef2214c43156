"""Data layer core: engines and sessions, the schema, the one clock, dialect differences, migrations."""
