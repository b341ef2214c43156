"""Data layer, lifecycle: retention, archive, backup and restore, erasure, compaction, the WAL bound."""
