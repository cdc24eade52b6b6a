"""Coverage dashboard pages, map and downloads (NTT viewers of the country, and admins)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import folium
from flask import Response, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _

from mapservice.api.params import code_param, float_param
from mapservice.charts import horizontal_bar_chart
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.http_cache import canonical_coordinate
from mapservice.i18n import current_locale
from mapservice.maps import js_text, marker_cluster, offline_map, render_map_document
from mapservice.ntt import bp
from mapservice.ntt.access import coverage_access_required, region_access_required
from mapservice.queries.coverage import (
    CoverageScope,
    area_counts,
    area_shapes,
    category_area_matrix,
    country_names,
    country_summaries,
    freshness,
    freshness_totals,
    service_points,
    unserved_places,
)
from mapservice.queries.vocabulary import vocabulary
from mapservice.security import content_security_policy, csp_nonce, map_tiles
from mapservice.services.coverage_export import CSV_MIMETYPE, XLSX_MIMETYPE, Sheet, to_csv, to_xlsx

DEFAULT_BEYOND_KM = 50.0
UNSERVED_SHOWN = 50
UNSERVED_ON_MAP = 500
POINTS_ON_MAP = 5000
FRESHNESS_SHOWN = 100
# Choropleth classes: upper bounds of each class (inclusive) and their fill colours.
ZERO_COLOUR = "#e63946"
CLASS_COLOURS = ["#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8"]


@dataclass(frozen=True)
class DashboardQuery:
    """The dashboard's parsed query string."""

    scope: CoverageScope
    beyond_km: float
    measure: str  # "count" or "per_100k"

    def args(self, **overrides) -> dict:
        """Query-string arguments that reproduce this view (for links and downloads)."""
        args = {"category": self.scope.category, "beyond_km": f"{self.beyond_km:g}", "measure": self.measure}
        args.update(overrides)
        return {k: v for k, v in args.items() if v not in (None, "")}


def _country_or_404(country: str) -> tuple[str, dict[str, str]]:
    code = country.upper()
    names = country_names(db.session)
    if code not in names:
        abort(404)
    return code, names


def parse_query(country: str) -> DashboardQuery:
    """Read category, beyond_km and measure; bad values become a 400 page."""
    try:
        category = code_param(request.args, "category", vocabulary().category_codes)
        beyond = float_param(request.args, "beyond_km", 0.1, 2000)
    except APIError as err:
        abort(400, err.message)
    measure = request.args.get("measure", "count")
    if measure not in ("count", "per_100k"):
        abort(400, "measure must be count or per_100k")
    scope = CoverageScope(country, category, current_app.config["VERIFY_HIDE_DAYS"])
    return DashboardQuery(scope, beyond if beyond is not None else DEFAULT_BEYOND_KM, measure)


def family_codes(category: str | None) -> list[str]:
    """The categories shown as columns: the roots, or the chosen category's root and its children."""
    vocab = vocabulary()
    if category is None:
        return [t.code for t in vocab.top_categories()]
    root = category.split(".", 1)[0]
    return [root] + [t.code for t in vocab.children(root)]


def category_label(code: str | None) -> str:
    """A category's label in the page's language (all categories for ``None``)."""
    if code is None:
        return _("All categories")
    return vocabulary().categories[code].label(current_locale())


def country_label(names: dict[str, dict[str, str]], code: str) -> str:
    """A country's name in the page's language."""
    return names[code]["en" if current_locale() == "en" else "es"]


def colour_classes(values: list[float]) -> list[float]:
    """Upper bounds of up to five classes over the positive values (quantiles, rounded)."""
    positive = sorted(v for v in values if v and v > 0)
    if not positive:
        return []
    bounds: list[float] = []
    for i in range(1, len(CLASS_COLOURS) + 1):
        bound = positive[min(len(positive) - 1, round(i * len(positive) / len(CLASS_COLOURS)) - 1)]
        if not bounds or bound > bounds[-1]:
            bounds.append(bound)
    return bounds


def colour_for(value: float | None, bounds: list[float]) -> str:
    """The fill colour of an area with ``value``."""
    if not value:
        return ZERO_COLOUR
    for bound, colour in zip(bounds, CLASS_COLOURS):
        if value <= bound:
            return colour
    return CLASS_COLOURS[len(bounds) - 1]


def _measure(row: dict, measure: str) -> float:
    return (row["per_100k"] or 0.0) if measure == "per_100k" else row["services"]


def sorted_rows(rows: list[dict], matrix: dict, sort: str, descending: bool) -> list[dict]:
    """Area rows sorted by name, code, or a category column."""
    if sort == "code":
        key = lambda r: r["code"]  # noqa: E731
    elif sort in ("services", "population", "per_100k"):
        key = lambda r: (r[sort] or 0, r["name"])  # noqa: E731
    elif sort.startswith("c:"):
        code = sort[2:]
        key = lambda r: (matrix.get((r["code"], code), 0), r["name"])  # noqa: E731
    else:
        key = lambda r: r["name"].casefold()  # noqa: E731
    return sorted(rows, key=key, reverse=descending)


@bp.get("/<country>")
@coverage_access_required
def dashboard(country: str):
    """The country's coverage: map, chart, category × area table, unserved towns, freshness."""
    code, names = _country_or_404(country)
    query = parse_query(code)
    codes = family_codes(query.scope.category)
    rows = area_counts(db.session, query.scope)
    matrix = category_area_matrix(db.session, query.scope, codes)
    unserved = unserved_places(db.session, query.scope, query.beyond_km)
    summary = country_summaries(db.session, query.scope.hide_after_days, codes, code)[0]
    stale = freshness(db.session, code, current_app.config["VERIFY_WARN_DAYS"], limit=FRESHNESS_SHOWN)
    stale_totals = freshness_totals(db.session, code, current_app.config["VERIFY_WARN_DAYS"])
    sort = request.args.get("sort", "name")
    descending = request.args.get("dir") == "desc"
    bounds = colour_classes([_measure(r, query.measure) for r in rows])
    chart = horizontal_bar_chart(
        [(category_label(c), summary["by_category"].get(c, 0)) for c in codes],
        _("Public services by category in %(country)s", country=country_label(names, code)),
    )
    legend = _legend(bounds, query.measure)
    return render_template(
        "coverage/dashboard.html",
        locale=current_locale(),
        country=code,
        country_name=country_label(names, code),
        query=query,
        category_name=category_label(query.scope.category),
        vocab=vocabulary(),
        codes=codes,
        rows=sorted_rows(rows, matrix, sort, descending),
        matrix=matrix,
        gaps=[r for r in rows if r["services"] == 0],
        unserved=unserved[:UNSERVED_SHOWN],
        unserved_total=len(unserved),
        stale=stale,
        stale_totals=stale_totals,
        stale_shown=FRESHNESS_SHOWN,
        warn_days=current_app.config["VERIFY_WARN_DAYS"],
        chart=chart,
        legend=legend,
        sort=sort,
        descending=descending,
        category_label=category_label,
        today=date.today(),
    )


def _legend(bounds: list[float], measure: str) -> list[tuple[str, str]]:
    items = [(ZERO_COLOUR, _("none"))]
    low = 0.0
    for bound, colour in zip(bounds, CLASS_COLOURS):
        if measure == "count":
            label = f"{int(low) + 1}–{int(bound)}" if int(bound) > int(low) + 1 else f"{int(bound)}"
        else:
            label = f"{low:.2f}–{bound:.2f}"
        items.append((colour, label))
        low = bound
    return items


@bp.get("/<country>/map")
@coverage_access_required
def coverage_map(country: str):
    """The choropleth, service points and unserved towns as a Folium document (iframe or download)."""
    code, names = _country_or_404(country)
    query = parse_query(code)
    m = build_map(code, names, query)
    standalone = request.args.get("download") == "1"
    response = Response(render_map_document(m, standalone=standalone), mimetype="text/html")
    if standalone:
        filename = f"coverage-{code}-{query.scope.category or 'all'}-{date.today().isoformat()}.html"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    # The dashboard shows this document in an iframe: allow framing by our own pages only.
    policy = content_security_policy(csp_nonce(), map_tiles()[0])
    response.headers["Content-Security-Policy"] = policy.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def build_map(code: str, names: dict, query: DashboardQuery) -> folium.Map:
    """The country's map: areas coloured by the measure, clustered public points, unserved towns."""
    rows = {r["code"]: r for r in area_counts(db.session, query.scope)}
    shapes = area_shapes(db.session, code)
    bounds = colour_classes([_measure(r, query.measure) for r in rows.values()])
    box = shapes[0]
    m = offline_map(((box["min_lat"] + box["max_lat"]) / 2, (box["min_lon"] + box["max_lon"]) / 2), prefer_canvas=True)
    m.fit_bounds([[box["min_lat"], box["min_lon"]], [box["max_lat"], box["max_lon"]]])
    estimate = _("estimate")
    features = []
    for shape in shapes:
        row = rows[shape["code"]]
        per_100k = "–" if row["per_100k"] is None else f"{row['per_100k']:.2f}"
        features.append(
            {
                "type": "Feature",
                "geometry": _json(shape["geojson"]),
                "properties": {
                    "name": js_text(f"{row['name']} ({row['code']})"),
                    "services": row["services"],
                    "per_100k": js_text(f"{per_100k} ({estimate})"),
                    "fill": colour_for(_measure(row, query.measure), bounds),
                },
            }
        )
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=js_text(_("Areas")),
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"], "color": "#333", "weight": 1, "fillOpacity": 0.6,
        },
        highlight_function=lambda f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "services", "per_100k"],
            aliases=[js_text(_("Area")), js_text(_("Services")), js_text(_("Per 100,000 inhabitants"))],
        ),
    ).add_to(m)  # fmt: skip
    points, total = service_points(db.session, query.scope, POINTS_ON_MAP)
    if points:
        shown = len({service_id for _lat, _lon, service_id in points})
        marker_cluster(points, _("Services (%(shown)d of %(total)d)", shown=shown, total=total)).add_to(m)
    unserved = unserved_places(db.session, query.scope, query.beyond_km)[:UNSERVED_ON_MAP]
    if unserved:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": [_town_feature(t, query) for t in unserved]},
            name=js_text(_("Towns farther than %(km)s km", km=f"{query.beyond_km:g}")),
            marker=folium.CircleMarker(radius=5, color="#6a040f", weight=2, fill=True, fill_color="#ffba08",
                                       fill_opacity=0.9),
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
            popup=folium.GeoJsonPopup(fields=["link"], labels=False),
        ).add_to(m)  # fmt: skip
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _town_feature(town: dict, query: DashboardQuery) -> dict:
    distance = "–" if town["nearest_km"] is None else f"{town['nearest_km']:.0f} km"
    label = js_text(f"{town['name']} · {town['population']:,} · {distance}")
    href = url_for(
        "public.search", lat=canonical_coordinate(town["lat"]), lon=canonical_coordinate(town["lon"]),
        category=query.scope.category,
    )
    link = f'<a href="{js_text(href)}" target="_top">{label}</a>'
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(town["lon"], 5), round(town["lat"], 5)]},
        "properties": {"label": label, "link": link},
    }


def _json(text: str):
    import json

    return json.loads(text)


@bp.get("/<country>/areas.<fmt>")
@coverage_access_required
def areas_download(country: str, fmt: str):
    """The category × area table as CSV (with HXL) or XLSX, one row per area and category."""
    code, names = _country_or_404(country)
    query = parse_query(code)
    codes = family_codes(query.scope.category)
    rows = area_counts(db.session, query.scope)
    matrix = category_area_matrix(db.session, query.scope, codes)
    sheet = Sheet(
        title=_("Services by area"),
        headers=[_("Area"), _("Area code"), _("Category"), _("Category code"), _("Services"),
                 _("Population (estimate)")],
        hashtags=["#adm1+name", "#adm1+code", "#sector+name", "#sector", "#service+count", "#population+est"],
        rows=[
            [r["name"], r["code"], category_label(c), c, matrix.get((r["code"], c), 0), r["population"]]
            for r in rows for c in codes
        ],
    )  # fmt: skip
    return _download(sheet, fmt, f"coverage-{code}-areas")


@bp.get("/<country>/unserved.<fmt>")
@coverage_access_required
def unserved_download(country: str, fmt: str):
    """The unserved towns as CSV (with HXL) or XLSX."""
    code, names = _country_or_404(country)
    query = parse_query(code)
    towns = unserved_places(db.session, query.scope, query.beyond_km)
    sheet = Sheet(
        title=_("Unserved towns"),
        headers=[_("Town"), _("Area code"), _("Population"), _("Latitude"), _("Longitude"),
                 _("Nearest service (km)"), _("Category")],
        hashtags=["#loc+name", "#adm1+code", "#population", "#geo+lat", "#geo+lon", "#indicator+nearest_km+num",
                  "#sector"],
        rows=[
            [t["name"], t["admin_area_code"], t["population"], round(t["lat"], 5), round(t["lon"], 5),
             None if t["nearest_km"] is None else round(float(t["nearest_km"]), 1), query.scope.category or ""]
            for t in towns
        ],
    )  # fmt: skip
    return _download(sheet, fmt, f"coverage-{code}-unserved-{query.beyond_km:g}km")


def _download(sheet: Sheet, fmt: str, stem: str) -> Response:
    if fmt == "csv":
        body, mimetype = to_csv(sheet), CSV_MIMETYPE
    elif fmt == "xlsx":
        body, mimetype = to_xlsx(sheet), XLSX_MIMETYPE
    else:
        abort(404)
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}-{date.today().isoformat()}.{fmt}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/")
@region_access_required
def region():
    """The seven countries side by side (admins)."""
    try:
        category = code_param(request.args, "category", vocabulary().category_codes)
    except APIError as err:
        abort(400, err.message)
    codes = family_codes(category)
    names = country_names(db.session)
    summaries = country_summaries(db.session, current_app.config["VERIFY_HIDE_DAYS"], codes)
    cards = []
    for s in summaries:
        counts = area_counts(db.session, CoverageScope(s["country"], category, current_app.config["VERIFY_HIDE_DAYS"]))
        cards.append(
            {
                "code": s["country"],
                "name": country_label(names, s["country"]),
                "total": s["total"],
                "areas": len(counts),
                "gaps": [r for r in counts if r["services"] == 0],
                "chart": horizontal_bar_chart(
                    [(category_label(c), s["by_category"].get(c, 0)) for c in codes],
                    _("Public services by category in %(country)s", country=country_label(names, s["country"])),
                ),
            }
        )
    return render_template(
        "coverage/region.html", locale=current_locale(), cards=cards, category=category,
        category_name=category_label(category), vocab=vocabulary(),
    )  # fmt: skip
