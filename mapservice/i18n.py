"""Language choice: ``?lang=`` or a plain ``lang`` preference cookie, else the browser's
``Accept-Language``; Spanish by default."""
from __future__ import annotations

from flask import Flask, current_app, g, request, url_for

from flask_babel import refresh

from mapservice.extensions import babel

LANG_COOKIE = "lang"


def select_locale() -> str:
    """The locale of the current request."""
    supported = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in supported:
        return chosen
    return request.accept_languages.best_match(supported) or current_app.config["BABEL_DEFAULT_LOCALE"]


def current_locale() -> str:
    """The locale of the current request, computed once."""
    if "locale" not in g:
        g.locale = select_locale()
    return g.locale


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our selector and remember an explicit ``?lang=`` choice."""
    babel.init_app(app, locale_selector=current_locale)
    app.add_template_global(switch_language_url)

    @app.before_request
    def choose_language_afresh():
        # The locale is cached on ``g``; an app context shared by several requests (tests,
        # CLI) must not carry one request's language into the next.
        g.pop("locale", None)
        refresh()

    @app.after_request
    def remember_language(response):
        chosen = request.args.get("lang")
        if chosen in app.config["LANGUAGES"] and request.cookies.get(LANG_COOKIE) != chosen:
            # A plain preference, not an identifier: same value for everyone who chose it.
            response.set_cookie(
                LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax",
                httponly=True, secure=app.config["SESSION_COOKIE_SECURE"],
            )  # fmt: skip
        return response


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues without translating it here: it stays English
    where it is data (OGC JSON) and is translated where a page shows it (``_(value)``)."""
    return message


def switch_language_url(lang: str) -> str:
    """The current page's URL in another language."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    args.update(request.view_args or {})
    return url_for(request.endpoint or "public.home", **args, lang=lang)
