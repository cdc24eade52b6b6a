"""The Spanish and English catalogues cover every string of the app (public pages,
dashboards, coverage), and the compiled .mo files match their .po sources."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "mapservice" / "translations"
# The public site's sources: a stricter set kept for the first test below.
PUBLIC_SOURCES = {
    "mapservice/templates/base.html", "mapservice/templates/index.html", "mapservice/templates/search.html",
    "mapservice/templates/_result.html", "mapservice/templates/_where.html", "mapservice/templates/service.html",
    "mapservice/templates/map.html", "mapservice/templates/offline.html", "mapservice/templates/error.html",
    "mapservice/templates/privacy.html", "mapservice/templates/feedback_form.html",
    "mapservice/templates/feedback_thanks.html",
    "mapservice/public/views.py", "mapservice/public/presenters.py", "mapservice/public/maps.py",
}  # fmt: skip
METHOD_MAP = [("templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}


def app_msgids(only: set[str] | None = None) -> set:
    """Every msgid in the app's sources (or in the files of ``only``)."""
    found = set()
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "mapservice"), METHOD_MAP, keywords=KEYWORDS
    ):
        if only is None or "mapservice/" + filename.replace("\\", "/") in only:
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalog(lang: str):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


@pytest.mark.parametrize("only", [PUBLIC_SOURCES, None], ids=["public", "whole-app"])
@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_string_is_translated(lang, only):
    cat = catalog(lang)
    missing = []
    for msgid in app_msgids(only):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = cat.get(key)
        translated = message is not None and (
            all(message.string) if isinstance(message.string, tuple) else bool(message.string)
        )
        if not translated or (message is not None and message.fuzzy):
            missing.append(key)
    assert not missing, f"untranslated in {lang} (run `make messages`, translate, `make translations`): {missing}"


@pytest.mark.parametrize("lang", ["es", "en"])
def test_compiled_catalogue_matches_its_source(lang):
    po = catalog(lang)
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
        mo = read_mo(f)
    def key(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    def translated(message) -> bool:
        return all(message.string) if isinstance(message.string, (list, tuple)) else bool(message.string)

    expected = {key(m.id): key(m.string) for m in po if m.id and not m.fuzzy and translated(m)}
    compiled = {key(m.id): key(m.string) for m in mo if m.id}
    assert compiled == expected, "messages.mo is stale: run `make translations`"
