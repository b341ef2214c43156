"""Data layer: models, engine, the single write path (recorder), read queries and the change feed."""
