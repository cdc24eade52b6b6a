"""Errors: JSON ``{"error": {"code", "message"}}`` for the API, friendly pages elsewhere."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException


class APIError(Exception):
    """An error to show the API client: a 4xx status, a stable code and a message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def wants_json() -> bool:
    """True for API paths (JSON errors), False for pages."""
    return request.path == "/api" or request.path.startswith(("/api/", "/ogc", "/hsds"))


def json_error(code: str, message: str, status: int):
    """A JSON error response in the contract's shape."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _may_retry(err: Exception) -> bool:
    """A lost connection (not a refused one) during a GET/HEAD that was not retried yet."""
    return (
        getattr(err, "connection_invalidated", False)
        and request.method in ("GET", "HEAD")
        and not request.environ.get("mapservice.database_retried")
    )


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on ``app``."""

    @app.errorhandler(APIError)
    def handle_api_error(err: APIError):
        return json_error(err.code, err.message, err.status)

    @app.errorhandler(HTTPException)
    def handle_http_error(err: HTTPException):
        status = err.code or 500
        code = (err.name or "error").lower().replace(" ", "_")
        if wants_json():
            response = json_error(code, err.description or err.name, status)
        else:
            response = app.make_response(
                (render_template("error.html", status=status, title=err.name, message=err.description), status)
            )
        if err.code == 405 and hasattr(err, "valid_methods") and err.valid_methods:
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(DataError)
    def handle_bad_value(err: DataError):
        # A value the validators let through but PostgreSQL refuses (out of range, bad
        # encoding): the client's input, so a 400; logged without the value itself.
        app.logger.warning("database refused a value: %s", type(getattr(err, "orig", err)).__name__)
        message = "A value in the request is out of range or malformed."
        if wants_json():
            return json_error("invalid_value", message, 400)
        return render_template("error.html", status=400, title="Bad request", message=message), 400

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def handle_database_down(err: Exception):
        if _may_retry(err):
            # The pooled connection died (the database restarted while nobody was asking);
            # SQLAlchemy has just dropped the whole pool, so a safe request runs once more
            # on a fresh connection instead of failing after the database is back.
            request.environ["mapservice.database_retried"] = True
            from mapservice.extensions import db

            db.session.rollback()
            try:
                result = app.ensure_sync(app.dispatch_request)()
            except (OperationalError, InterfaceError) as again:
                err = again
            except Exception as other:  # noqa: BLE001 (the view's own 4xx, handled as usual)
                return app.handle_user_exception(other)
            else:
                return app.make_response(result)
        app.logger.error("database error: %s", type(err).__name__)
        message = "The directory is briefly unavailable; try again in a few seconds."
        if wants_json():
            response = json_error("unavailable", message, 503)
        else:
            response = app.make_response(
                (render_template("error.html", status=503, title="Unavailable", message=message), 503)
            )
        response.headers["Retry-After"] = "5"
        return response
