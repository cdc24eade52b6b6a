"""The public site in Debian's Chromium at phone size (360×740, mobile, touch), against a live
server: the Tapachula walk with and without JavaScript, both languages, the weight budget,
no third-party request, hostile CSO text, axe-core, quick exit and offline copies.

Screenshots of every page go to tests/screenshots/ (git-ignored).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.factories import listing

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (make test installs it)"),
]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
TAPACHULA = {"latitude": 14.9056, "longitude": -92.2633}
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 1}
HOSTILE = ["${alert(1)}", "x\\`;alert(2);//", "<img src=x onerror=alert(3)>", "</script><script>alert(4)</script>"]
WEIGHT_BUDGET = 100_000


class Phone:
    """A phone-sized browser context that records every request, dialog and console error."""

    def __init__(self, chromium, base: str, **options):
        settings = {**PHONE, "locale": "es-MX", "service_workers": "block", **options}
        self.context = chromium.new_context(**settings)
        self.base = base
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str):
        """Open a path of the live server and wait for the page to settle."""
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def shot(self, name: str) -> Path:
        """A 360×740 screenshot in tests/screenshots/."""
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def third_party(self) -> list[str]:
        """Requests to any host but the app's own (data: URLs are not requests)."""
        return [u for u in self.requests if not u.startswith(self.base) and not u.startswith("data:")]

    def close(self):
        self.context.close()


@pytest.fixture
def phone(chromium, site):
    """Make phones; each is closed after the test."""
    made: list[Phone] = []

    def make(**options) -> Phone:
        made.append(Phone(chromium, site["base"], **options))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def site(app, live_server, committed_services):
    """The live server with a committed set of services around Tapachula (nearest first)."""
    # The default: no tile server, the app's outline basemap.
    assert not app.config["TILES_URL"]
    ids = committed_services(
        listing(organization="Walk Org", name="Asesoría legal cercana", lat=14.9060, lon=-92.2633,
                categories=["protection.legal"], phone="+529621234567", whatsapp="+529627654321",
                hours="24/7", languages=["es", "en"], populations=["women"]),
        listing(organization="Walk Org", name="Clínica jurídica", lat=14.9156, lon=-92.2633,
                categories=["protection.legal", "protection.asylum"], hours="Mo-Fr 08:00-16:00"),
        listing(organization="Walk Org", name="Albergue seguro", lat=14.9300, lon=-92.2700,
                categories=["protection.shelter"], confidential=True, address="Calle Oculta 1"),
        listing(organization="Walk Org", name="Defensoría lejana", lat=14.9800, lon=-92.2000,
                categories=["protection.legal"]),
        listing(organization="Walk Org", name="Bolsa de empleo", lat=14.9000, lon=-92.2600,
                categories=["livelihoods.employment"]),
    )  # fmt: skip
    return {"base": live_server, "ids": ids}


def card_names(page) -> list[str]:
    return page.locator(".result h2 a").all_inner_texts()


def card_distances_km(page) -> list[float]:
    values = []
    for text in page.locator(".result .dist").all_inner_texts():
        number, unit = text.replace(",", ".").split()
        values.append(float(number) / (1000 if unit == "m" else 1))
    return values


def test_tapachula_walk_with_javascript(phone, site):
    p = phone(geolocation=TAPACHULA, permissions=["geolocation"])
    page = p.go("/")
    assert page.locator("html").get_attribute("lang") == "es"
    p.shot("home-es")
    page.get_by_role("button", name="Usar mi ubicación").tap()
    page.wait_for_url(re.compile(r"/search\?lat=14\.906&lon=-92\.263"))
    p.shot("search-located")
    # Choose a category with the plain filter form.
    page.locator("details.filters summary").tap()
    page.get_by_label("Tipo de ayuda").select_option("protection.legal")
    page.get_by_role("button", name="Mostrar servicios").tap()
    page.wait_for_url(re.compile(r"category=protection\.legal"))
    page.wait_for_load_state("networkidle")
    assert card_names(page) == ["Asesoría legal cercana", "Clínica jurídica", "Defensoría lejana"]
    distances = card_distances_km(page)
    assert distances == sorted(distances)
    assert "Cerca de tu ubicación (Tapachula, Chiapas)" in page.locator(".near").inner_text()
    first = page.locator(".result").first
    assert first.locator("a[href^='tel:']").count() == 1
    assert first.locator("a[href^='https://wa.me/']").count() == 1
    # With JavaScript on a desktop-like user agent the geo: link falls back to OpenStreetMap.
    directions = first.locator("a[data-fallback]").get_attribute("href")
    assert directions.startswith("geo:") or directions.startswith("https://www.openstreetmap.org/")
    p.shot("search-category")
    first.get_by_role("link", name=re.compile("^Detalles")).tap()
    page.wait_for_url(re.compile(r"/services/\d+$"))
    assert page.locator("h1").inner_text() == "Asesoría legal cercana"
    assert page.locator("table.week tr").count() == 7
    p.shot("service")
    page.go_back()
    page.get_by_role("link", name="Mapa", exact=True).tap()
    page.wait_for_url(re.compile(r"/map\?"))
    page.wait_for_selector(".leaflet-marker-icon")
    assert page.locator(".leaflet-marker-icon").count() == 3
    # Screen-reader names on the map's markers.
    assert page.locator(".leaflet-marker-icon").first.get_attribute("alt").startswith("1. Asesoría legal cercana")
    # The outline basemap under the markers: Mexico and Guatemala, their states, Tapachula named.
    page.wait_for_selector(".leaflet-outline-pane path", state="attached")
    assert page.locator(".leaflet-outline-pane path").count() >= 2
    assert "Tapachula" in page.locator(".leaflet-outline-labels-pane").inner_text()
    p.shot("map")
    assert p.third_party() == [] and p.dialogs == []
    assert [e for e in p.errors if "404" not in e] == []  # the test tiles are 404s


def test_tapachula_walk_without_javascript(phone, site):
    p = phone(java_script_enabled=False)
    page = p.go("/")
    assert page.locator("[data-locate-form]").is_hidden()  # needs JavaScript: not offered
    page.locator("summary", has_text="Protección").tap()
    page.get_by_role("link", name="Asistencia legal").tap()
    page.wait_for_url(re.compile(r"/search\?category=protection\.legal$"))
    p.shot("search-nojs-where")
    page.get_by_label("Tu ciudad o pueblo").fill("Tapachula")
    page.get_by_role("button", name="Buscar").tap()
    page.wait_for_url(re.compile(r"q=Tapachula"))
    assert "Cerca de Tapachula, Chiapas" in page.locator(".near").inner_text()
    names = card_names(page)
    assert names[:2] == ["Asesoría legal cercana", "Clínica jurídica"]
    assert card_distances_km(page) == sorted(card_distances_km(page))
    p.shot("search-nojs")
    page.locator(".result").first.get_by_role("link", name=re.compile("^Detalles")).tap()
    assert page.locator("h1").inner_text() == "Asesoría legal cercana"
    page.go_back()
    page.get_by_role("link", name="Mapa", exact=True).tap()
    page.wait_for_url(re.compile(r"/map\?"))
    assert page.locator("ol.map-list li").count() == len(names)
    assert page.locator(".map").is_hidden()  # no empty box where the map would be
    p.shot("map-nojs")
    # The country-wide map without JavaScript: the plain town form, no empty map.
    page = p.go("/map")
    assert page.locator(".map").is_hidden() and page.get_by_label("Tu ciudad o pueblo").is_visible()
    # The quick exit is a plain link without JavaScript.
    assert page.locator("a.exit").get_attribute("href").startswith("https://")
    assert p.third_party() == []


@pytest.mark.parametrize("language, expected", [("es-MX,es;q=0.9", "es"), ("en-US,en;q=0.9", "en")])
def test_language_follows_the_browser(phone, site, language, expected):
    p = phone(locale=language.split(",")[0], extra_http_headers={"Accept-Language": language})
    for path in ("/", "/search?q=Tapachula", f"/services/{site['ids'][0]}", "/map?q=Tapachula"):
        page = p.go(path)
        assert page.locator("html").get_attribute("lang") == expected, path
        exit_label = page.locator("a.exit").inner_text()
        assert exit_label == ("Quick exit" if expected == "en" else "Salida rápida")
    p.go("/search?q=Tapachula")
    p.shot(f"search-{expected}")
    assert p.context.cookies() == []  # no cookie for an anonymous visitor


def test_first_load_of_search_is_light_and_local(phone, site):
    p = phone(geolocation=TAPACHULA, permissions=["geolocation"])
    sizes: list[int] = []
    p.page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]))
    p.go("/search?q=Tapachula")
    total = sum(sizes)
    print(f"first load of /search: {len(sizes)} requests, {total} bytes over the wire")
    assert total < WEIGHT_BUDGET
    assert p.third_party() == []
    # And the map, loaded from the list, stays local too (Leaflet from the app, no CDN).
    p.page.get_by_role("link", name="Mapa", exact=True).tap()
    p.page.wait_for_selector(".leaflet-marker-icon")
    assert p.third_party() == []


def test_hostile_text_stays_inert(phone, site, committed_services):
    ids = committed_services(
        *[listing(organization=f"Org {text}", name=f"Svc {text}", description=text, lat=14.9057 + i / 10000,
                  lon=-92.2634, address=text) for i, text in enumerate(HOSTILE)]
    )  # fmt: skip
    p = phone()
    page = p.go("/search?lat=14.906&lon=-92.263")
    assert {f"Svc {text}" for text in HOSTILE} <= set(card_names(page))
    for sid in ids:
        p.go(f"/services/{sid}")
    page = p.go("/map?lat=14.906&lon=-92.263")
    page.wait_for_selector(".leaflet-marker-icon")
    for text in HOSTILE:
        # Open the marker's popup: the payload is shown as text, nothing runs.
        markers = page.locator(".leaflet-marker-icon")
        titles = markers.evaluate_all("icons => icons.map(icon => icon.title)")
        index = next(i for i, title in enumerate(titles) if f"Svc {text}," in title)
        markers.nth(index).dispatch_event("click")  # markers overlap here: click this very one
        popup = page.locator(".leaflet-popup-content").last
        popup.wait_for()
        assert f"Svc {text}" in popup.inner_text()
        assert f"Org {text}" in popup.inner_text()
    p.shot("map-hostile")
    page.wait_for_timeout(300)
    assert p.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("() => window.__pwned === undefined")


def test_axe_core_finds_no_serious_violation(phone, site):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    p = phone(bypass_csp=True)
    problems = {}
    for path in ("/", "/search?q=Tapachula", "/search?lat=14.906&lon=-92.263&category=training.digital&radius_km=5",
                 f"/services/{site['ids'][0]}", f"/services/{site['ids'][2]}", "/map?q=Tapachula", "/map", "/offline"):
        p.go(path)
        results = axe.run(p.page)
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
        if bad:
            problems[path] = bad
    assert problems == {}


def test_tap_targets_and_reflow(phone, site):
    p = phone()
    for path in ("/", "/search?q=Tapachula", f"/services/{site['ids'][0]}"):
        page = p.go(path)
        small = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                  'button, .btn, input:not([type=hidden]), select, summary, .top a, .subneeds a, .alts a'))
                .filter(e => e.offsetParent !== null)
                .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()])
                .filter(([, r]) => r.width < 44 || r.height < 44)
                .map(([h]) => h)"""
        )
        assert small == [], path
    # 200% zoom on this phone is a 180 px wide viewport: nothing is cut off sideways.
    p.page.set_viewport_size({"width": 180, "height": 370})
    for path in ("/", "/search?q=Tapachula", f"/services/{site['ids'][0]}"):
        page = p.go(path)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, path
    p.go("/search?q=Tapachula")
    p.shot("search-zoom-200")


def test_quick_exit_replaces_the_page(phone, site):
    p = phone()
    p.context.route("https://www.google.com/**", lambda route: route.fulfill(body="<title>neutral</title>"))
    p.go("/")
    page = p.go("/search?q=Tapachula")
    page.locator("a.exit").tap()
    page.wait_for_url(re.compile(r"^https://www\.google\.com/"))
    page.go_back()
    page.wait_for_load_state()
    # The search page was replaced in the history: back leads to the page before it.
    assert not page.url.startswith(p.base + "/search")


def test_offline_copies_are_marked_with_their_time(phone, site):
    p = phone(service_workers="allow")
    page = p.go("/")
    page.evaluate("() => navigator.serviceWorker.ready")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    service = f"/services/{site['ids'][0]}"
    p.go("/search?q=Tapachula")
    p.go(service)
    page.wait_for_timeout(300)  # the copy is written after the page is shown
    p.context.set_offline(True)
    page = p.go(service)
    assert page.locator("h1").inner_text() == "Asesoría legal cercana"
    note = page.locator("[data-saved-note]")
    assert note.is_visible()
    assert re.search(r"\d", note.locator("time").inner_text())
    assert note.locator("time").get_attribute("datetime").startswith("20")
    p.shot("service-offline")
    page = p.go("/search?q=Tapachula")
    assert "Asesoría legal cercana" in card_names(page)
    page = p.go(f"/services/{site['ids'][3]}")  # never opened: the saved pages instead
    assert page.locator("[data-saved-pages] a").count() >= 2
    p.shot("offline")
    p.context.set_offline(False)


def test_service_worker_snaps_precise_links_itself(phone, site):
    p = phone(service_workers="allow")
    page = p.go("/")
    page.evaluate("() => navigator.serviceWorker.ready")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page = p.go("/search?lat=14.90561&lon=-92.26332&category=protection")
    assert page.url == p.base + "/search?lat=14.906&lon=-92.263&category=protection"
    assert "Asesoría legal cercana" in card_names(page)
    page.wait_for_timeout(300)  # the copy is written after the page is shown
    # Offline, another precise point of the same ~110 m cell opens the canonical page (from
    # the browser's cache or the saved copy): the worker canonicalized it without the server.
    p.context.set_offline(True)
    page = p.go("/search?lat=14.9064&lon=-92.2628&category=protection")
    assert page.url == p.base + "/search?lat=14.906&lon=-92.263&category=protection"
    assert "Asesoría legal cercana" in card_names(page)
    p.context.set_offline(False)


def clusters_asked(p: Phone) -> list[str]:
    return [u for u in p.requests if "/api/v1/services/clusters?" in u]


def test_country_wide_map_draws_server_clusters(phone, site, committed_services):
    # One service alone in Tijuana, far from Tapachula's: a single point named with hostile CSO text.
    hostile = "<img src=x onerror=window.__pwned=1>${alert(1)}\\`;alert(2)//"
    (lone,) = committed_services(listing(organization="Walk Org", name=hostile, lat=32.52, lon=-117.03))
    p = phone()
    page = p.go("/map")
    page.wait_for_selector(".cluster")
    assert len(clusters_asked(p)) == 1  # one request for the whole screen, nothing per service
    # Tapachula's five services are one numbered circle; Tijuana's one is a point.
    assert page.locator(".cluster").all_inner_texts() == ["5"]
    assert page.locator(".cluster").first.get_attribute("title") == "5 servicios aquí. Acércate."
    assert "servicios en esta vista" in page.locator("[data-clusters-status]").inner_text()
    p.shot("map-country-wide")
    point = page.locator("path.leaflet-interactive")
    assert point.count() == 1
    point.dispatch_event("click")
    popup = page.locator(".leaflet-popup-content a")
    popup.wait_for()
    assert popup.inner_text() == hostile and popup.get_attribute("href") == f"/services/{lone}"
    page.wait_for_timeout(300)
    assert p.dialogs == [] and page.locator("img[src='x']").count() == 0
    assert page.evaluate("() => window.__pwned === undefined")
    # Tapping a cluster zooms in on it and asks for the finer clusters of the new view.
    page.locator(".cluster").first.dispatch_event("click")
    page.wait_for_function("n => document.querySelectorAll('.cluster, path.leaflet-interactive').length > 0", arg=0)
    page.wait_for_load_state("networkidle")
    assert len(clusters_asked(p)) == 2
    assert p.third_party() == [] and [e for e in p.errors if "404" not in e] == []


def test_results_map_shows_clusters_once_zoomed_out(phone, site, committed_services):
    committed_services(*[listing(organization="Walk Org", name=f"Otro {i}", lat=15.2 + i / 100, lon=-92.4)
                         for i in range(30)])  # fmt: skip
    p = phone()
    page = p.go("/map?lat=14.906&lon=-92.263&category=protection.legal")
    page.wait_for_selector(".leaflet-marker-icon")
    results = page.locator(".leaflet-marker-icon:not(.cluster)").count()
    assert clusters_asked(p) == [] and page.locator(".cluster").count() == 0  # its own view: the list's markers
    page.evaluate("() => window[document.querySelector('[data-clusters-url]').id].zoomOut(3)")
    page.wait_for_selector(".cluster")
    page.wait_for_load_state("networkidle")
    (asked,) = clusters_asked(p)
    assert "category=protection.legal" in asked and "zoom=" in asked
    assert page.locator(".leaflet-marker-icon:not(.cluster)").count() == results  # numbered markers stay
    p.shot("map-zoomed-out")
    assert p.third_party() == []
