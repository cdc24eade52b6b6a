"""The write layer for one service at a time, used by the write API and the dashboard.

Every write checks the version the writer last saw (optimistic locking: no lost updates),
validates with :func:`mapservice.services.listings.parse_listing`, keeps the public point
of a confidential service generalized by the SQL function ``generalize_point()`` exactly as
the importer does, and appends a row to ``service_history``.  The caller commits.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.services.history import SNAPSHOT_SQL, Actor
from mapservice.services.importer import points_outside_country
from mapservice.services.listings import COLUMNS, Listing, load_vocabulary, parse_listing

# Fields a client may send, by their listing-CSV names ("name" is accepted for service_name).
WRITABLE = tuple(c for c in COLUMNS if c != "organization")
ALIASES = {"name": "service_name", "lat": "latitude", "lon": "longitude"}
# Fields only the system or an administrator sets: refused with 400 when sent.
PROTECTED = ("organization", "organization_id", "status", "is_demo", "demo", "last_verified", "verified",
             "version", "id", "deleted_at", "created_at", "updated_at")  # fmt: skip

class EditError(Exception):
    """A refused write; ``code`` and ``status`` map onto the API's errors."""

    def __init__(self, code: str, message: str, status: int = 400, *, errors: list[str] | None = None,
                 current: dict[str, Any] | None = None, current_version: int | None = None):  # fmt: skip
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.errors = errors or []
        self.current = current
        self.current_version = current_version


@dataclass
class Snapshot:
    """A service's current state for the write layer."""

    id: int
    organization_id: int
    version: int
    status: str
    doc: dict[str, Any]

    @property
    def listing_fields(self) -> dict[str, Any]:
        """The document as parse_listing input (without status and verification)."""
        return {k: v for k, v in self.doc.items() if k not in ("status", "last_verified")}


def snapshot(session: Session, service_id: int, *, lock: bool = False) -> Snapshot | None:
    """The current state of a service (row-locked with ``lock``), or ``None``."""
    sql = SNAPSHOT_SQL + " WHERE s.id = :id" + (" FOR UPDATE OF s" if lock else "")
    row = session.execute(text(sql), {"id": service_id}).first()
    if row is None:
        return None
    return Snapshot(row.id, row.organization_id, row.version, row.status, _plain(row.doc))


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for key in ("latitude", "longitude"):
        if out.get(key) is not None:
            out[key] = float(out[key])
    return out


def normalize_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """Map aliases, refuse protected and unknown fields (400)."""
    if not isinstance(body, Mapping):
        raise EditError("invalid_body", "the body must be a JSON object")
    fields: dict[str, Any] = {}
    protected = sorted(k for k in body if k in PROTECTED)
    if protected:
        raise EditError("protected_field", f"these fields cannot be set by a client: {', '.join(protected)}")
    unknown = sorted(k for k in body if ALIASES.get(k, k) not in WRITABLE)
    if unknown:
        raise EditError("unknown_field", f"unknown field(s): {', '.join(unknown)}; use the listing fields "
                        f"({', '.join(WRITABLE)})")  # fmt: skip
    for key, value in body.items():
        fields[ALIASES.get(key, key)] = value
    return fields


def _validate(session: Session, organization_name: str, fields: Mapping[str, Any]) -> Listing:
    raw = dict(fields)
    raw["organization"] = organization_name
    listing, reasons = parse_listing(raw, load_vocabulary(session))
    if listing is None:
        raise EditError("invalid_listing", "; ".join(reasons), errors=reasons)
    outside = points_outside_country(session, [listing])
    if outside:
        reasons = [e.split(": ", 1)[1] for e in outside]
        raise EditError("invalid_listing", "; ".join(reasons), errors=reasons)
    return listing


def _organization_name(session: Session, organization_id: int) -> str:
    return session.execute(text("SELECT name FROM organization WHERE id = :id"), {"id": organization_id}).scalar_one()


def _record(session: Session, snap_before: Snapshot | None, service_id: int, actor: Actor, action: str) -> int:
    """Append the history row of a write; returns the new version."""
    after = snapshot(session, service_id)
    assert after is not None
    before = snap_before.doc if snap_before else {}
    changes = {
        key: {"before": before.get(key), "after": value}
        for key, value in after.doc.items()
        if before.get(key) != value and not (snap_before is None and value in (None, "", []))
    }
    session.execute(
        text(
            "INSERT INTO service_history (service_id, organization_id, user_id, actor, via, action, changes, version, at) "
            "VALUES (:sid, :org, :uid, :actor, :via, :action, CAST(:changes AS jsonb), :version, now())"
        ),
        {"sid": service_id, "org": after.organization_id, "uid": actor.user_id, "actor": actor.label,
         "via": actor.via, "action": action, "changes": _json(changes), "version": after.version},  # fmt: skip
    )
    return after.version


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def create_service(session: Session, organization_id: int, body: Mapping[str, Any], actor: Actor) -> tuple[int, int]:
    """Create a service of the organization; returns ``(id, version)``.

    Without ``external_id`` one is made up (``web-…``).  A repeated external id is a 409.
    """
    fields = normalize_body(body)
    if not fields.get("external_id"):
        fields["external_id"] = "web-" + secrets.token_hex(5)
    listing = _validate(session, _organization_name(session, organization_id), fields)
    taken = session.execute(
        text("SELECT id FROM service WHERE organization_id = :org AND external_id = :ext"),
        {"org": organization_id, "ext": listing.external_id},
    ).scalar()
    if taken is not None:
        raise EditError("duplicate_external_id", f"your organization already has a service with external_id "
                        f"'{listing.external_id}' (id {taken})", 409)  # fmt: skip
    service_id = session.execute(
        text(
            """
            INSERT INTO service (organization_id, external_id, name, description, categories, populations,
                                 languages, phone, whatsapp, email, website, hours, free, confidential,
                                 status, is_demo, last_verified, version, created_at, updated_at)
            VALUES (:org, :external_id, :name, :description, CAST(:categories AS varchar[]),
                    CAST(:populations AS varchar[]), CAST(:languages AS varchar[]), :phone, :whatsapp,
                    :email, :website, :hours, :free, :confidential, 'active', false, current_date, 1,
                    now(), now())
            RETURNING id
            """
        ),
        {"org": organization_id, **_service_params(listing)},
    ).scalar_one()
    location_id = session.execute(
        text(
            """
            INSERT INTO location (geom, public_geom, address, declared_country)
            SELECT p.pt, CASE WHEN :confidential THEN generalize_point(p.pt) ELSE p.pt END, :address, :country
              FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt) p
            RETURNING id
            """
        ),
        _location_params(listing),
    ).scalar_one()
    session.execute(
        text("INSERT INTO service_at_location (service_id, location_id) VALUES (:s, :l)"),
        {"s": service_id, "l": location_id},
    )
    version = _record(session, None, service_id, actor, "create")
    return service_id, version


def _service_params(x: Listing) -> dict[str, Any]:
    return {
        "external_id": x.external_id, "name": x.name, "description": x.description,
        "categories": x.categories, "populations": x.populations, "languages": x.languages,
        "phone": x.phone, "whatsapp": x.whatsapp, "email": x.email, "website": x.website,
        "hours": x.hours, "free": x.free, "confidential": x.confidential,
    }  # fmt: skip


def _location_params(x: Listing) -> dict[str, Any]:
    return {"lat": x.lat, "lon": x.lon, "address": x.address, "country": x.country, "confidential": x.confidential}


def _load_for_write(session: Session, service_id: int, organization_id: int | None, expected_version: int | None,
                    *, require_version: bool = True) -> Snapshot:  # fmt: skip
    before = snapshot(session, service_id, lock=True)
    if before is None or (organization_id is not None and before.organization_id != organization_id):
        raise EditError("not_found", f"no service {service_id} of your organization", 404)
    if expected_version is None and require_version:
        raise EditError("precondition_required", "send If-Match with the ETag you last read", 428)
    if expected_version is not None and expected_version != before.version:
        raise EditError(
            "version_conflict",
            f"the service changed since you read it (you have version {expected_version}, it is now "
            f"{before.version}); read it again and reapply your change",
            412,
            current=before.doc,
            current_version=before.version,
        )  # fmt: skip
    return before


def update_service(session: Session, service_id: int, body: Mapping[str, Any], expected_version: int | None,
                   actor: Actor, *, organization_id: int | None) -> int:  # fmt: skip
    """Apply a partial change (missing fields keep their value); returns the new version.

    ``organization_id`` limits the write to that organization's services (``None``: an admin).
    A deleted service must be restored first.
    """
    fields = normalize_body(body)
    before = _load_for_write(session, service_id, organization_id, expected_version)
    if before.status != "active":
        raise EditError("deleted", "the service is deleted; restore it before changing it", 409)
    merged = {**before.listing_fields, **fields}
    listing = _validate(session, _organization_name(session, before.organization_id), merged)
    if listing.external_id != before.doc["external_id"]:
        taken = session.execute(
            text("SELECT id FROM service WHERE organization_id = :org AND external_id = :ext AND id <> :id"),
            {"org": before.organization_id, "ext": listing.external_id, "id": service_id},
        ).scalar()
        if taken is not None:
            raise EditError("duplicate_external_id", f"external_id '{listing.external_id}' is used by service {taken}", 409)
    for field, stored in (("categories", before.doc["categories"]), ("populations", before.doc["populations"]),
                          ("languages", before.doc["languages"])):  # fmt: skip
        if sorted(getattr(listing, field)) == sorted(stored or []):
            setattr(listing, field, list(stored or []))  # the same codes in another order: no change
    new_doc = {**before.doc, **_doc_of(listing)}
    if new_doc == before.doc:
        return before.version  # nothing changed: no new version, no history row
    session.execute(
        text(
            """
            UPDATE service SET external_id = :external_id, name = :name, description = :description,
                   categories = CAST(:categories AS varchar[]), populations = CAST(:populations AS varchar[]),
                   languages = CAST(:languages AS varchar[]), phone = :phone, whatsapp = :whatsapp,
                   email = :email, website = :website, hours = :hours, free = :free,
                   confidential = :confidential, last_verified = current_date,
                   version = version + 1, updated_at = now()
             WHERE id = :id
            """
        ),
        {"id": service_id, **_service_params(listing)},
    )
    session.execute(
        text(
            """
            UPDATE location l SET geom = p.pt,
                   public_geom = CASE
                     WHEN NOT :confidential THEN p.pt
                     WHEN NOT :was_confidential OR NOT ST_Equals(l.geom, p.pt) THEN generalize_point(p.pt)
                     ELSE l.public_geom END,
                   address = :address, declared_country = :country
              FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt) p
             WHERE l.id = (SELECT sal.location_id FROM service_at_location sal
                            WHERE sal.service_id = :id ORDER BY sal.id LIMIT 1)
            """
        ),
        {"id": service_id, "was_confidential": bool(before.doc["confidential"]), **_location_params(listing)},
    )
    return _record(session, before, service_id, actor, "update")


def _doc_of(x: Listing) -> dict[str, Any]:
    return {
        "external_id": x.external_id, "service_name": x.name, "description": x.description,
        "categories": x.categories, "populations": x.populations, "languages": x.languages,
        "country": x.country, "address": x.address, "latitude": round(x.lat, 6), "longitude": round(x.lon, 6),
        "phone": x.phone, "whatsapp": x.whatsapp, "email": x.email, "website": x.website, "hours": x.hours,
        "free": x.free, "confidential": x.confidential,
    }  # fmt: skip


def _set_status(session: Session, service_id: int, expected_version: int | None, actor: Actor,
                organization_id: int | None, *, action: str, require_version: bool) -> int:  # fmt: skip
    before = _load_for_write(session, service_id, organization_id, expected_version, require_version=require_version)
    if action == "delete":
        if before.status != "active":
            raise EditError("already_deleted", "the service is already deleted", 409)
        sql = "status = 'deleted', deleted_at = now()"
    elif action == "restore":
        if before.status == "active":
            raise EditError("not_deleted", "the service is not deleted", 409)
        sql = "status = 'active', deleted_at = NULL"
    else:  # confirm
        if before.status != "active":
            raise EditError("deleted", "the service is deleted; restore it first", 409)
        sql = "last_verified = current_date"
    session.execute(
        text(f"UPDATE service SET {sql}, version = version + 1, updated_at = now() WHERE id = :id"),
        {"id": service_id},
    )
    return _record(session, before, service_id, actor, action)


def delete_service(session: Session, service_id: int, expected_version: int | None, actor: Actor, *,
                   organization_id: int | None) -> int:  # fmt: skip
    """Soft-delete: the service leaves every public view and can be restored."""
    return _set_status(session, service_id, expected_version, actor, organization_id, action="delete",
                       require_version=True)  # fmt: skip


def restore_service(session: Session, service_id: int, expected_version: int | None, actor: Actor, *,
                    organization_id: int | None) -> int:  # fmt: skip
    """Bring a deleted service back (its organization's editors, or an admin for any)."""
    return _set_status(session, service_id, expected_version, actor, organization_id, action="restore",
                       require_version=False)  # fmt: skip


def confirm_service(session: Session, service_id: int, expected_version: int | None, actor: Actor, *,
                    organization_id: int | None) -> int:  # fmt: skip
    """"Still accurate": the verification date becomes today."""
    return _set_status(session, service_id, expected_version, actor, organization_id, action="confirm",
                       require_version=False)  # fmt: skip
