"""Dashboard layer: pure component builders (data in, Dash components out), unit-tested without a browser."""
