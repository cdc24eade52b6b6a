"""Public pages: home, search results, service details."""
from __future__ import annotations

from flask import abort, current_app, render_template, request

from mapservice.api.directory import nearby_filters
from mapservice.api.params import float_param, text_param
from mapservice.errors import APIError
from mapservice.extensions import db
from mapservice.i18n import current_locale
from mapservice.public import bp
from mapservice.queries.places import search_places
from mapservice.queries.services import nearest_services, public_service
from mapservice.queries.vocabulary import vocabulary

RESULTS_PER_PAGE = 20


@bp.get("/")
def home():
    """One screen: use my location, a town box, the top-level needs."""
    return render_template("index.html", vocab=vocabulary(), locale=current_locale())


@bp.get("/search")
def search():
    """Nearest services to a point or to the best gazetteer match of ``q``."""
    problem = None
    place = None
    alternatives: list[dict] = []
    results: list[dict] = []
    try:
        lat = float_param(request.args, "lat", -90, 90)
        lon = float_param(request.args, "lon", -180, 180)
        query = text_param(request.args, "q", 100)
        filters = nearby_filters(request.args)
    except APIError as err:
        return render_template("search.html", problem=err.message, vocab=vocabulary(),
                               locale=current_locale(), results=[], args=request.args), 400  # fmt: skip
    if (lat is None or lon is None) and query:
        matches = search_places(db.session, query, 6)
        if matches:
            place, alternatives = matches[0], matches[1:]
            lat, lon = place["lat"], place["lon"]
        else:
            problem = "no_place"
    if lat is not None and lon is not None:
        results = nearest_services(
            db.session, lat, lon, filters, RESULTS_PER_PAGE,
            hide_after_days=current_app.config["VERIFY_HIDE_DAYS"],
        )  # fmt: skip
    elif problem is None:
        problem = "no_position"
    return render_template(
        "search.html",
        results=results,
        place=place,
        alternatives=alternatives,
        lat=lat,
        lon=lon,
        filters=filters,
        problem=problem,
        vocab=vocabulary(),
        locale=current_locale(),
        args=request.args,
    )


@bp.get("/services/<int:service_id>")
def service_page(service_id: int):
    """Everything public about one service."""
    if service_id > 2**31 - 1:
        abort(404)
    row = public_service(db.session, service_id, hide_after_days=current_app.config["VERIFY_HIDE_DAYS"])
    if row is None:
        abort(404)
    return render_template("service.html", s=row, vocab=vocabulary(), locale=current_locale())
