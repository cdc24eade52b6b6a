"""Folium maps that load nothing from third parties, and text made safe for folium.

Folium's default template links Leaflet, jQuery, Bootstrap, Font Awesome and
awesome-markers from CDNs.  :func:`offline_map` builds a map that links only Leaflet
(and, with :func:`marker_cluster`, Leaflet.markercluster), served by this app from the
``xstatic-leaflet`` and ``xstatic-leaflet-markercluster`` packages under ``/vendor/``;
the only other request a map makes is for tiles, when a tile server is configured
(:func:`mapservice.security.map_tiles`).
:func:`render_map_document` renders the HTML document, optionally standalone (assets
inlined, for a download) and with the CSP nonce on inline scripts when the app has one.

Folium puts text inside JavaScript template literals and HTML: give it only
:func:`js_text` output, never CSO- or gazetteer-entered text as it is.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import folium
import xstatic.pkg.leaflet
import xstatic.pkg.leaflet_markercluster
from flask import Blueprint, abort, current_app, send_from_directory, url_for
from folium.plugins import FastMarkerCluster

from mapservice.security import map_tiles

VENDOR_DIRS: dict[str, Path] = {
    "leaflet": Path(xstatic.pkg.leaflet.BASE_DIR),
    "leaflet-markercluster": Path(xstatic.pkg.leaflet_markercluster.BASE_DIR),
}
VENDOR_MAX_AGE = 7 * 24 * 3600

bp = Blueprint("vendor", __name__, url_prefix="/vendor")


@bp.get("/<package>/<path:filename>")
def asset(package: str, filename: str):
    """A file of a vendored front-end package (Leaflet, Leaflet.markercluster)."""
    directory = VENDOR_DIRS.get(package)
    if directory is None:
        abort(404)
    return send_from_directory(directory, filename, max_age=VENDOR_MAX_AGE)


def vendor_url(package: str, filename: str) -> str:
    """The app's URL of a vendored file."""
    return url_for("vendor.asset", package=package, filename=filename)


def js_text(value: object) -> str:
    """Text that is inert wherever folium puts it: HTML, a JS string, JSON or a template literal.

    HTML-escapes ``& < > " '`` (so ``</script>`` cannot end a script and markup is shown,
    not run) and turns the characters that act inside a JavaScript template literal —
    backslash, backtick, ``$`` — into HTML character references, which a browser shows as
    the same characters when folium's popups and tooltips set ``innerHTML``.
    """
    text = html.escape("" if value is None else str(value), quote=True)
    return text.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def offline_map(location: tuple[float, float], zoom_start: int = 6, **kwargs) -> folium.Map:
    """A folium Map whose only assets are the app's Leaflet files, with the configured tiles."""
    m = folium.Map(location=location, zoom_start=zoom_start, tiles=None, control_scale=True, **kwargs)
    m.default_js = [("leaflet", vendor_url("leaflet", "leaflet.js"))]
    m.default_css = [("leaflet_css", vendor_url("leaflet", "leaflet.css"))]
    tiles_url, attribution = map_tiles()
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr=attribution, name="OpenStreetMap", control=False).add_to(m)
    return m


# Marker for a row [lat, lon, id, ...]: a small circle whose popup links to the service page.
SERVICE_POINT_CALLBACK = """function (row) {
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]),
        {radius: 6, color: '#1d3557', weight: 1, fillColor: '#2a9d8f', fillOpacity: 0.9});
    var link = document.createElement('a');
    link.href = '/services/' + encodeURIComponent(String(row[2]));
    link.target = '_top';
    link.textContent = '#' + String(row[2]);
    marker.bindPopup(link);
    return marker;
}"""


def marker_cluster(points: list[tuple[float, float, int]], name: str) -> FastMarkerCluster:
    """Clustered service points (rows ``[lat, lon, service id]``) with the app's markercluster files.

    Only numbers reach the browser: each popup is a link to ``/services/<id>``.
    """
    cluster = FastMarkerCluster(
        [[float(lat), float(lon), int(service_id)] for lat, lon, service_id in points],
        callback=SERVICE_POINT_CALLBACK,
        name=js_text(name),
    )
    cluster.default_js = [("markerclusterjs", vendor_url("leaflet-markercluster", "leaflet.markercluster.js"))]
    cluster.default_css = [
        ("markerclustercss", vendor_url("leaflet-markercluster", "MarkerCluster.css")),
        ("markerclusterdefaultcss", vendor_url("leaflet-markercluster", "MarkerCluster.Default.css")),
    ]
    return cluster


_ASSET_TAG = re.compile(
    r'<script src="(?P<js>/vendor/[^"]+)"></script>|<link rel="stylesheet" href="(?P<css>/vendor/[^"]+)"\s*/>'
)


def _inline_asset(match: re.Match) -> str:
    url = (match.group("js") or match.group("css")).split("?", 1)[0]  # drop the ?v= fingerprint
    _, _, package, filename = url.split("/", 3)
    directory = VENDOR_DIRS[package]
    path = (directory / filename).resolve()
    if directory.resolve() not in path.parents:
        raise ValueError(f"not a vendored file: {url}")
    content = path.read_text(encoding="utf-8")
    if match.group("js"):
        return "<script>" + re.sub(r"</(script)", r"<\\/\1", content, flags=re.I) + "</script>"
    return "<style>" + content.replace("</style", "<\\/style") + "</style>"


def render_map_document(m: folium.Map, *, standalone: bool = False) -> str:
    """The map as a complete HTML document.

    ``standalone`` inlines the vendored assets so the file works when saved (tiles still
    come from ``TILES_URL``).  When the app provides a ``csp_nonce()`` template global,
    every inline ``<script>`` and ``<style>`` gets it.
    """
    document = m.get_root().render()
    if standalone:
        document = _ASSET_TAG.sub(_inline_asset, document)
    nonce_factory = current_app.jinja_env.globals.get("csp_nonce")
    if nonce_factory is not None:
        nonce = html.escape(str(nonce_factory()), quote=True)
        document = re.sub(r"<(script|style)(?=[\s>])", rf'<\1 nonce="{nonce}"', document)
    return document
