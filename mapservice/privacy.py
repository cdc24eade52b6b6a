"""Privacy: request logs carry the path only, never the query string (searchers'
coordinates and town names stay out of every log)."""
from __future__ import annotations

import logging
import time

from flask import Flask, g, request

access_log = logging.getLogger("mapservice.access")


def install_private_request_logging(app: Flask) -> None:
    """Log one line per request: method, path (no query string), status, duration."""

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        started = g.get("request_started")
        elapsed_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        access_log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed_ms)
        return response
