"""Dashboard layer: the Dash app on its Flask server — pages, components, figures, websocket bridge, REST API."""
