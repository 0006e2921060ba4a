"""The sender's screens at /app: static files for a browser that speaks only the public /v1 API."""
