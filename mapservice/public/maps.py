"""The results map, built with Folium but served without any third-party asset.

Folium's page template links Leaflet, jQuery, Bootstrap and awesome-markers from CDNs and puts
popup/tooltip text inside JavaScript template literals.  Here only the map's *script* is taken
from Folium: the page (templates/map.html) loads Leaflet from the app itself, and every text
that reaches the script goes through ``tojson`` (a plain JSON string, where ``${...}``, a
backslash before a backtick and ``</script>`` are inert) after HTML escaping (so
``<img onerror>`` is shown as text by Leaflet's ``innerHTML``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import folium
from branca.element import MacroElement
from flask import url_for
from flask_babel import gettext
from folium.map import FitBounds
from folium.template import Template
from markupsafe import Markup, escape

from mapservice.public.presenters import distance_label
from mapservice.queries.vocabulary import Vocabulary
from mapservice.security import map_tiles


class InertPopup(MacroElement):
    """A popup whose HTML reaches the page as a JSON string, never as a template literal."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.bindPopup({{ this.html|tojson }}, {maxWidth: 260});
        {% endmacro %}
        """
    )

    def __init__(self, html: Markup):
        super().__init__()
        self._name = "InertPopup"
        self.html = str(html)


class InertTooltip(MacroElement):
    """A permanent-off tooltip with plain text (Leaflet inserts it as HTML: it is escaped)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.bindTooltip({{ this.html|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str):
        super().__init__()
        self._name = "InertTooltip"
        self.html = str(escape(text))


@dataclass(frozen=True)
class MapScript:
    """What the page needs to show a Folium map: the div id and the script to run."""

    element_id: str
    script: Markup


def _popup_html(row: dict, vocab: Vocabulary, locale: str) -> Markup:
    labels = [vocab.categories[c].label(locale) for c in row["categories"] if c in vocab.categories]
    approx = Markup("<br><em>{}</em>").format(gettext("Approximate area")) if row["confidential"] else ""
    return Markup(
        '<strong><a href="{href}">{name}</a></strong><br>{org}<br>{dist} · {cats}{approx}'
    ).format(
        href=url_for("public.service_page", service_id=row["id"]),
        name=row["name"],
        org=row["organization_name"],
        dist=distance_label(row["distance_km"]),
        cats=", ".join(labels[:3]),
        approx=approx,
    )


def _zoom_for(radius_km: float) -> int:
    """A zoom level at which a circle of ``radius_km`` fits a phone-sized map."""
    if radius_km <= 0:
        return 15
    return max(3, min(16, int(14 - math.log2(max(radius_km, 0.3)))))


# The seven MIRPS countries (south, west, north, east): what the country-wide map shows first.
REGION_BOUNDS = ((7.0, -118.5), (32.8, -77.0))


def _base_map(lat: float, lon: float, zoom: int) -> folium.Map:
    """A Folium map that links nothing from a CDN (the page links Leaflet from the app, and
    no jQuery/Bootstrap at all), with the configured tiles; without any (the default), the
    page's ``static/basemap.js`` draws the outline basemap."""
    fmap = folium.Map(location=[lat, lon], zoom_start=zoom, tiles=None, control_scale=True, prefer_canvas=False)
    fmap.default_js = []
    fmap.default_css = []
    tiles_url, attribution = map_tiles()
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr=attribution, max_zoom=19).add_to(fmap)
    return fmap


def _fit_view(fmap: folium.Map, bounds: list[list[float]], **options) -> None:
    """``fmap.fit_bounds(bounds, **options)`` without the zoom animation: ``static/map.js``
    reads the map's zoom as soon as it runs, and a fit still animating would give it the
    zoom from before the fit (then a second clusters request at the right one)."""
    fit = FitBounds(bounds, **options)
    fit.options["animate"] = False
    fmap.add_child(fit)


def _script(fmap: folium.Map) -> MapScript:
    figure = fmap.get_root()
    figure.render()
    return MapScript(fmap.get_name(), Markup(figure.script.render()))


def region_map() -> MapScript:
    """The country-wide map: the seven countries, no marker of its own.  ``static/map.js``
    draws the services on it as server-side clusters (``/api/v1/services/clusters``), so a
    phone never receives more than the clusters of its screen, however many services there are."""
    (south, west), (north, east) = REGION_BOUNDS
    fmap = _base_map((south + north) / 2, (west + east) / 2, 4)
    _fit_view(fmap, [[south, west], [north, east]])
    return _script(fmap)


def results_map(lat: float, lon: float, results: list[dict], radius_km: float | None,
                vocab: Vocabulary) -> MapScript:  # fmt: skip
    """The Folium map of ``results`` around the searcher at (lat, lon).

    Zoomed out beyond its first view, ``static/map.js`` adds the clusters of every other
    service (the list's own services keep their numbered markers)."""
    from mapservice.i18n import current_locale

    locale = current_locale()
    farthest = max((float(r["distance_km"]) for r in results), default=5.0)
    shown_radius = radius_km if radius_km is not None else farthest
    fmap = _base_map(lat, lon, _zoom_for(shown_radius))
    folium.Circle(
        location=[lat, lon], radius=shown_radius * 1000, color="#0b5cad", weight=2,
        fill=True, fill_opacity=0.05, interactive=False,
    ).add_to(fmap)  # fmt: skip
    you = folium.CircleMarker(
        location=[lat, lon], radius=9, color="#ffffff", weight=3, fill=True,
        fill_color="#c0392b", fill_opacity=1,
    )  # fmt: skip
    you.add_child(InertTooltip(gettext("You searched from here")))
    you.add_to(fmap)
    for number, row in enumerate(results, start=1):
        label = gettext(
            "%(number)s. %(name)s, %(distance)s", number=number, name=row["name"],
            distance=distance_label(row["distance_km"]),
        )  # fmt: skip
        marker = folium.Marker(
            location=[float(row["lat"]), float(row["lon"])],
            alt=label,
            title=label,
            keyboard=True,
            riseOnHover=True,
        )
        marker.add_child(InertPopup(_popup_html(row, vocab, locale)))
        marker.add_to(fmap)
    if results:
        points = [[float(r["lat"]), float(r["lon"])] for r in results] + [[lat, lon]]
        south, west = min(p[0] for p in points), min(p[1] for p in points)
        north, east = max(p[0] for p in points), max(p[1] for p in points)
        _fit_view(fmap, [[south, west], [north, east]], padding=(24, 24), max_zoom=16)
    return _script(fmap)
