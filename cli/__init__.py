"""Command-line layer: the `python app.py …` commands besides the servers — arguments and actions."""
