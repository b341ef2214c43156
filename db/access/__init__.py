"""Data layer, access: API tokens and the audit log."""
