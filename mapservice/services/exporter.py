"""Exports of the public view: listing CSV, GeoJSON and HSDS 3.0 JSON.

Confidential locations appear only with their generalized point and no address; private
fields (exact point, verification internals, ids of people) are never selected.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy.orm import Session

from mapservice.queries.services import public_services, service_json
from mapservice.services.csvsafe import HXL_TAGS, neutralize_formula
from mapservice.services.listings import COLUMNS


def _yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return "yes" if value else "no"


def listing_csv_row(row: dict[str, Any]) -> dict[str, str]:
    """One public service as a row of the listing CSV (re-importable)."""
    return {
        "organization": row["organization_name"],
        "external_id": row["external_id"],
        "service_name": row["name"],
        "description": row["description"] or "",
        "categories": ";".join(row["categories"]),
        "populations": ";".join(row["populations"]),
        "languages": ";".join(row["languages"]),
        "country": row["declared_country"],
        "address": row["address"] or "",
        "latitude": f"{row['lat']:.6f}",
        "longitude": f"{row['lon']:.6f}",
        "phone": row["phone"] or "",
        "whatsapp": row["whatsapp"] or "",
        "email": row["email"] or "",
        "website": row["website"] or "",
        "hours": row["hours"] or "",
        "free": _yes_no(row["free"]),
        "confidential": _yes_no(row["confidential"]),
    }


EXPORT_COLUMNS = (*COLUMNS, "admin1")


def export_csv(session: Session, *, country: str | None = None, hide_after_days: int = 365) -> str:
    """The public directory as a listing CSV, re-importable and safe in a spreadsheet.

    UTF-8 with a byte-order mark (so spreadsheets show accents right), the header row, an
    HXL hashtag row, then one row per service; cells that a spreadsheet would run as a
    formula are neutralized (:mod:`mapservice.services.csvsafe`).  The extra ``admin1``
    column (ISO 3166-2 code of the area the point is in) is ignored by the import.
    """
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(HXL_TAGS)
    for row in public_services(session, country=country, hide_after_days=hide_after_days):
        cells = listing_csv_row(row) | {"admin1": row["admin_area_code"] or ""}
        writer.writerow({k: neutralize_formula(v) for k, v in cells.items()})
    return out.getvalue()


def geojson_feature(row: dict[str, Any]) -> dict[str, Any]:
    """One public service at one location as an RFC 7946 Feature."""
    properties = service_json(row, with_distance=False)
    location = properties.pop("location")
    properties["approximate"] = location["approximate"]
    properties["address"] = location["address"]
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]},
        "properties": properties,
    }


def feature_collection(features: list[dict[str, Any]], license: str | None) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection; the data licence is a foreign member ``license``."""
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if license:
        collection["license"] = license
    return collection


def export_geojson(
    session: Session, *, country: str | None = None, hide_after_days: int = 365, license: str | None = None
) -> str:
    """The public directory as an RFC 7946 FeatureCollection."""
    features = [
        geojson_feature(row)
        for row in public_services(session, country=country, hide_after_days=hide_after_days)
    ]
    return json.dumps(feature_collection(features, license), ensure_ascii=False, indent=1)


def export_hsds(session: Session, *, country: str | None = None, hide_after_days: int = 365) -> str:
    """The public directory as a JSON array of HSDS 3.0 service objects."""
    from mapservice.services.hsds import hsds_services

    services = hsds_services(session, country=country, hide_after_days=hide_after_days)
    return json.dumps(services, ensure_ascii=False, indent=1)
