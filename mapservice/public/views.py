"""Public pages: home, search results, service details, the map, the service worker."""
from __future__ import annotations

import unicodedata
from typing import Any

from flask import abort, current_app, make_response, render_template, request, send_from_directory, url_for
from flask_babel import gettext

from mapservice.api.params import code_param, float_param, text_param
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.http_cache import canonical_coordinate
from mapservice.i18n import current_locale
from mapservice.public import bp, presenters
from mapservice.public.maps import region_map, results_map
from mapservice.queries.places import nearest_place, search_places
from mapservice.queries.services import NearbyFilters, nearest_services, public_service
from mapservice.queries.vocabulary import vocabulary

RESULTS_PER_PAGE = 20
# A place further than this from the searcher is not named as "near".
NEAR_PLACE_KM = 30

# Each search parameter and the message shown when it cannot be read.
PARAM_PROBLEMS = {
    "lat": lambda: gettext("The position in the address is not valid."),
    "lon": lambda: gettext("The position in the address is not valid."),
    "q": lambda: gettext("The town name is too long or has characters we cannot read."),
    "category": lambda: gettext("We do not know that kind of service; showing every kind."),
    "population": lambda: gettext("We do not know that group of people; showing services for everyone."),
    "language": lambda: gettext("We do not know that language; showing every language."),
    "radius_km": lambda: gettext("The distance is not valid; showing any distance."),
}


@bp.app_context_processor
def page_helpers() -> dict[str, Any]:
    """Helpers every public template may use."""
    return {
        "locale": current_locale(),
        "distance_label": presenters.distance_label,
        "language_name": presenters.language_name,
        "whatsapp_url": presenters.whatsapp_url,
        "phone_display": presenters.phone_display,
        "geo_url": presenters.geo_url,
        "osm_directions_url": presenters.osm_directions_url,
        "open_state": presenters.open_state,
        "quick_exit_url": current_app.config.get("QUICK_EXIT_URL", "https://www.google.com/"),
    }


@bp.get("/")
def home():
    """One screen: use my location, a town box, the top-level needs."""
    return render_template("index.html", vocab=vocabulary())


class SearchRequest:
    """The search parameters of a request, each parsed on its own so one bad value is named."""

    def __init__(self, args):
        self.problems: list[str] = []
        self.lat = self._read(lambda: float_param(args, "lat", -90, 90), "lat")
        self.lon = self._read(lambda: float_param(args, "lon", -180, 180), "lon")
        self.q = self._read(lambda: text_param(args, "q", 100), "q")
        vocab = vocabulary()
        self.category = self._read(lambda: code_param(args, "category", vocab.category_codes), "category")
        self.population = self._read(lambda: code_param(args, "population", vocab.population_codes), "population")
        self.language = self._read(lambda: code_param(args, "language"), "language")
        self.radius_km = self._read(lambda: float_param(args, "radius_km", 0.1, 20000), "radius_km")
        if (self.lat is None) != (self.lon is None):
            self.lat = self.lon = None
        if self.lat is not None:
            # Never more exact than the canonical URL (http_cache redirects to it first).
            self.lat, self.lon = float(canonical_coordinate(self.lat)), float(canonical_coordinate(self.lon))

    def _read(self, parse, name: str):
        try:
            return parse()
        except APIError:
            message = PARAM_PROBLEMS[name]()
            if message not in self.problems:
                self.problems.append(message)
            return None

    @property
    def filters(self) -> NearbyFilters:
        """The filters for the query layer."""
        return NearbyFilters(self.category, self.population, self.language, self.radius_km)

    def url(self, endpoint: str = "public.search", **changes) -> str:
        """This search's URL with some parameters changed (``None`` drops one)."""
        params = {
            "lat": canonical_coordinate(self.lat) if self.lat is not None else None,
            "lon": canonical_coordinate(self.lon) if self.lon is not None else None,
            "q": self.q if self.lat is None else None,
            "category": self.category,
            "population": self.population,
            "language": self.language,
            "radius_km": f"{self.radius_km:g}" if self.radius_km is not None else None,
        }
        params.update(changes)
        return url_for(endpoint, **{k: v for k, v in params.items() if v is not None})


def _locate(search: SearchRequest) -> tuple[dict | None, list[dict], bool]:
    """Resolve the searcher's position: (the named place, alternatives, whether it is known)."""
    place, alternatives = None, []
    if search.lat is not None:
        near = nearest_place(db.session, search.lat, search.lon)
        if near and near["distance_km"] <= NEAR_PLACE_KM:
            place = near
        return place, alternatives, True
    if search.q:
        matches = search_places(db.session, search.q, 6)
        if matches:
            place, alternatives = matches[0], _same_name(matches[0], matches[1:], search.q)
            search.lat, search.lon = float(place["lat"]), float(place["lon"])
            return place, alternatives, True
    return None, [], False


def _same_name(best: dict, others: list[dict], query: str) -> list[dict]:
    """Other towns worth offering: when the best match is the very name typed, only its
    namesakes ("San José" in several countries); otherwise every close match."""

    def fold(text: str) -> str:
        return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold().strip()

    typed = fold(query.partition(",")[0])
    if fold(best["name"]) != typed:
        return others
    return [p for p in others if fold(p["name"]) == typed]


@bp.get("/search")
def search():
    """Nearest services to a point or to the best gazetteer match of ``q``; works without JS."""
    search = SearchRequest(request.args)
    status = 400 if search.problems else 200
    from_town = search.lat is None and bool(search.q)
    place, alternatives, located = _locate(search)
    results: list[dict] = []
    if located:
        results = nearest_services(
            db.session, search.lat, search.lon, search.filters, RESULTS_PER_PAGE,
            hide_after_days=current_app.config["VERIFY_HIDE_DAYS"],
        )  # fmt: skip
    return (
        render_template(
            "search.html",
            search=search,
            cat=vocabulary().categories.get(search.category) if search.category else None,
            results=results,
            place=place,
            from_town=from_town,
            alternatives=alternatives,
            located=located,
            town_not_found=bool(search.q) and not located,
            vocab=vocabulary(),
            filter_languages=_filter_languages(search.language),
            radius_choices=presenters.RADIUS_CHOICES,
        ),
        status,
    )


def _filter_languages(chosen: str | None) -> list[str]:
    codes = list(presenters.FILTER_LANGUAGES)
    if chosen and chosen not in codes:
        codes.append(chosen)
    return codes


@bp.get("/services/<int:service_id>")
def service_page(service_id: int):
    """Everything public about one service."""
    if service_id > 2**31 - 1:
        abort(404)
    row = public_service(db.session, service_id, hide_after_days=current_app.config["VERIFY_HIDE_DAYS"])
    if row is None:
        abort(404)
    week = presenters.week_hours(row["hours"], row["timezone"])
    return render_template("service.html", s=row, week=week, vocab=vocabulary())


@bp.get("/map")
def map_page():
    """A Folium map of the same results as /search, with the searcher's position and radius;
    without a position, the country-wide map of every service (clustered by the server)."""
    search = SearchRequest(request.args)
    status = 400 if search.problems else 200
    place, _alternatives, located = _locate(search)
    results: list[dict] = []
    script = None
    if located:
        results = nearest_services(
            db.session, search.lat, search.lon, search.filters, RESULTS_PER_PAGE,
            hide_after_days=current_app.config["VERIFY_HIDE_DAYS"],
        )  # fmt: skip
        script = results_map(search.lat, search.lon, results, search.radius_km, vocabulary())
    else:
        script = region_map()
    return (
        render_template(
            "map.html", search=search, results=results, place=place, located=located, map=script,
            vocab=vocabulary(),
        ),
        status,
    )


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from the root so that its scope is the whole site."""
    response = make_response(send_from_directory(current_app.static_folder, "sw.js"))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    return response


@bp.get("/offline")
def offline():
    """What the service worker shows for a page it has not saved: the saved pages."""
    return render_template("offline.html")
