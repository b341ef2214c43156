"""Reports layer: builds a report of a period from the db/ query functions and renders it as HTML, PDF, JSON
and CSV. Imports db only; nothing here connects or reads the environment at import time."""
