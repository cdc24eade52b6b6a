"""The bare reference: a minimal werkzeug + psycopg endpoint over the same rows.

``GET /nearby?lat=&lon=[&category=][&limit=]`` runs one planar KNN query
(``ORDER BY geom <-> point LIMIT n`` on a GiST index) on ``bench_ref`` — the same points
as the app's services, loaded by raw COPY — and returns JSON.  No framework, no ORM, no
validation beyond float(): the floor the app is measured against.  Served by the same
gunicorn as the app: ``gunicorn bench.reference:app``; ``BENCH_REF_DSN`` names the database.
"""
from __future__ import annotations

import json
import os

import psycopg
from werkzeug.wrappers import Request, Response

SQL = """
SELECT id, name, ST_Y(geom) AS lat, ST_X(geom) AS lon,
       ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography) / 1000.0 AS km
  FROM bench_ref
 WHERE %(category)s::text IS NULL OR %(category)s::text = ANY(categories)
 ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
 LIMIT %(limit)s
"""

_connection: psycopg.Connection | None = None


def _conn() -> psycopg.Connection:
    """One connection per worker process, opened on first use (as a pool of one would)."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["BENCH_REF_DSN"], autocommit=True, prepare_threshold=None)
    return _connection


@Request.application
def app(request: Request) -> Response:
    """The reference nearby endpoint."""
    if request.path != "/nearby":
        return Response("not found", status=404)
    params = {
        "lat": float(request.args["lat"]),
        "lon": float(request.args["lon"]),
        "category": request.args.get("category") or None,
        "limit": int(request.args.get("limit", 20)),
    }
    rows = _conn().execute(SQL, params).fetchall()
    body = json.dumps({"results": [{"id": r[0], "name": r[1], "lat": r[2], "lon": r[3], "distance_km": r[4]} for r in rows]})
    return Response(body, mimetype="application/json")
