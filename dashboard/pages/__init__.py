"""Dashboard layer: one module per page; each exposes PATH, TITLE, `layout` and `register(app, services)`."""
