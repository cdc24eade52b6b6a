"""The write API: POST, PATCH and DELETE /api/v1/services with a bearer token.

The organization is always the token's (never the body's); ``ETag`` is the service's
version and ``If-Match`` is required to change or delete (412 when stale, 428 when absent).
"""
from __future__ import annotations

from flask import current_app, jsonify, request

from mapservice.api import bp
from mapservice.api.openapi import openapi_doc
from mapservice.errors import APIError
from mapservice.extensions import db, limiter
from mapservice.queries.dashboard import own_service
from mapservice.queries.services import public_service, service_json
from mapservice.services.accounts import user_for_api_token
from mapservice.services.editing import (
    EditError,
    create_service,
    delete_service,
    restore_service,
    update_service,
)
from mapservice.services.history import Actor

MAX_ID = 2**31 - 1


def token_user():
    """The user of the request's bearer token, or a 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    user = user_for_api_token(db.session, secret.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        raise APIError("unauthorized", "send Authorization: Bearer <token> with a valid API token", 401)
    return user


def _token_key() -> str:
    header = request.headers.get("Authorization", "")
    return "token:" + header[-16:] if header else "ip:" + (request.remote_addr or "?")


def etag(version: int) -> str:
    """The ETag of a service version (a strong, quoted entity tag)."""
    return f'"{version}"'


def if_match_version(current_version_lookup=None) -> int | None:
    """The version named by If-Match (``None`` without the header); ``*`` means the current one."""
    raw = request.headers.get("If-Match")
    if raw is None or not raw.strip():
        return None
    values = [v.strip().removeprefix("W/").strip('"') for v in raw.split(",")]
    if "*" in values and current_version_lookup is not None:
        return current_version_lookup()
    for value in values:
        if value.isdigit() and len(value) < 10:
            return int(value)
    return -1  # a tag that can never match: 412


def _body() -> dict:
    if not request.is_json:
        raise APIError("unsupported_media_type", "send a JSON object with Content-Type: application/json", 415)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise APIError("invalid_body", "the body must be a JSON object")
    return body


def _actor(user) -> Actor:
    return Actor(user.id, user.email, "api")


def _edit_error(err: EditError):
    response = jsonify({"error": {"code": err.code, "message": err.message, **({"errors": err.errors} if err.errors else {})}})
    response.status_code = err.status
    if err.current_version is not None:
        response.headers["ETag"] = etag(err.current_version)
    return response


def _service_response(service_id: int, status: int):
    row = public_service(db.session, service_id, hide_after_days=current_app.config["VERIFY_HIDE_DAYS"])
    if row is not None:
        body = service_json(row, with_distance=False)
        body["external_id"] = row["external_id"]
        version = row["version"]
    else:  # not public (e.g. an organization waiting for approval): the writer still sees it
        own = own_service(db.session, service_id)
        body = {"id": service_id, "external_id": own["external_id"], "name": own["name"], "public": False}
        version = own["version"]
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = etag(version)
    response.headers["Location"] = f"/api/v1/services/{service_id}"
    return response


def _organization_scope(user) -> int | None:
    """The organization a token may write to (``None``: an administrator, any)."""
    return None if user.role == "admin" else user.organization_id


def _check_id(service_id: int) -> None:
    if service_id > MAX_ID:
        raise APIError("not_found", f"no service {service_id} of your organization", 404)


@bp.post("/v1/services")
@openapi_doc("Create a service of the token's organization", body="ListingInput", response="WrittenService", status=201, errors=(400, 401, 403, 409, 415), auth=True, tag="write")
@limiter.limit("120 per minute", key_func=_token_key, scope="write-api")
def create():
    """Create a service of the token's organization → 201, the service and its ETag."""
    user = token_user()
    if user.role != "cso_editor":
        raise APIError("forbidden", "creating a service needs an organization editor's token", 403)
    body = _body()
    try:
        service_id, _ = create_service(db.session, user.organization_id, body, _actor(user))
    except EditError as err:
        db.session.rollback()
        return _edit_error(err)
    db.session.commit()
    return _service_response(service_id, 201)


def _edit_existing(write, service_id: int, user, *args):
    """Run ``write`` on an existing service within the token's scope and commit.

    Returns the error response, or ``None`` when the write was committed.
    """
    try:
        write(db.session, service_id, *args, _expected(service_id), _actor(user),
              organization_id=_organization_scope(user))  # fmt: skip
    except EditError as err:
        db.session.rollback()
        return _edit_error(err)
    db.session.commit()
    return None


@bp.patch("/v1/services/<int:service_id>")
@openapi_doc("Change fields of a service", params=("If-Match",), body="ListingInput", response="WrittenService", errors=(400, 401, 403, 404, 409, 412, 415, 428), auth=True, tag="write")
@limiter.limit("120 per minute", key_func=_token_key, scope="write-api")
def patch(service_id: int):
    """Change some fields; If-Match must name the current version."""
    user = token_user()
    _check_id(service_id)
    body = _body()
    failed = _edit_existing(update_service, service_id, user, body)
    return failed or _service_response(service_id, 200)


@bp.delete("/v1/services/<int:service_id>")
@openapi_doc("Soft-delete a service (it can be restored)", params=("If-Match",), status=204, errors=(400, 401, 403, 404, 409, 412, 415, 428), auth=True, tag="write")
@limiter.limit("120 per minute", key_func=_token_key, scope="write-api")
def delete(service_id: int):
    """Soft-delete: 204; the service leaves every public view and can be restored."""
    user = token_user()
    _check_id(service_id)
    failed = _edit_existing(delete_service, service_id, user)
    return failed or ("", 204)


@bp.post("/v1/services/<int:service_id>/restore")
@openapi_doc("Restore a deleted service", params=("If-Match",), response="WrittenService", errors=(400, 401, 403, 404, 409, 412, 415, 428), auth=True, tag="write")
@limiter.limit("120 per minute", key_func=_token_key, scope="write-api")
def restore(service_id: int):
    """Bring a soft-deleted service back → 200 and its new ETag."""
    user = token_user()
    _check_id(service_id)
    failed = _edit_existing(restore_service, service_id, user)
    return failed or _service_response(service_id, 200)


def _expected(service_id: int) -> int | None:
    def current() -> int:
        own = own_service(db.session, service_id)
        return own["version"] if own else -1

    return if_match_version(current)
