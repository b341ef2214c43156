"""Data layer, write side: the one write path (recorder) and what feeds it: ingest, claims, workers, redaction."""
