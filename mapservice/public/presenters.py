"""Turn public rows into what a visitor reads: open now / closed in the service's own time
zone, a readable week of hours, distances, language names and one-tap action links."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import pycountry
from babel import Locale
from flask_babel import format_date, format_decimal, gettext
from opening_hours import OpeningHours, State

# Languages offered in the search filter, in this order (the region's most spoken first).
FILTER_LANGUAGES = ("es", "en", "fr", "pt", "ht", "quc", "mam", "kek", "cak", "cab", "miq", "tzo", "tzh")

# Spanish names CLDR lacks for the region's indigenous languages.
SPANISH_LANGUAGE_NAMES = {
    "quc": "k'iche'", "mam": "mam", "kek": "q'eqchi'", "cak": "kaqchikel", "cab": "garífuna",
    "miq": "miskito", "tzo": "tsotsil", "tzh": "tseltal",
}  # fmt: skip

# Distances the visitor can narrow the search to (km); None is "any distance".
RADIUS_CHOICES = (5, 10, 25, 50, 100)

DEFAULT_TIMEZONE = "America/Mexico_City"


@lru_cache(maxsize=1024)
def _parsed_hours(hours: str, timezone: str) -> OpeningHours | None:
    try:
        return OpeningHours(hours, timezone=_zone(timezone), auto_country=False, auto_timezone=False)
    except Exception:  # noqa: BLE001  (the parser raises its own ParserError; bad data must not 500)
        return None


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def _schedule(hours: str | None, timezone: str | None):
    """The parsed ``opening_hours`` and the location's zone, or ``None`` when unreadable."""
    if not hours:
        return None
    parsed = _parsed_hours(hours, timezone or DEFAULT_TIMEZONE)
    return None if parsed is None else (parsed, _zone(timezone))


@dataclass(frozen=True)
class OpenState:
    """Whether a service is open at a moment, and when that changes (local time)."""

    state: str  # "open", "closed" or "unknown"
    next_change: datetime | None
    comment: str
    at: datetime

    @property
    def label(self) -> str:
        """"Open now · closes at 16:00", "Closed · opens Monday 08:00" … in the current language."""
        when = _when(self.next_change, self.at) if self.next_change else None
        if self.state == "open":
            return gettext("Open now · closes %(when)s", when=when) if when else gettext("Open now")
        if self.state == "closed":
            return gettext("Closed · opens %(when)s", when=when) if when else gettext("Closed")
        return gettext("Hours vary: call first")


def _when(moment: datetime, now: datetime) -> str:
    """A short local time; "tomorrow" or the weekday when it is not today."""
    today = now.date()
    clock = f"{moment:%H:%M}"
    if moment.date() == today:
        return clock
    if moment.date() == today + timedelta(days=1):
        return gettext("tomorrow %(time)s", time=clock)
    return f"{format_date(moment.date(), 'EEEE')} {clock}"


def open_state(hours: str | None, timezone: str | None, now: datetime | None = None) -> OpenState | None:
    """Open / closed / unknown for ``hours`` (OSM ``opening_hours``) in the location's time zone."""
    schedule = _schedule(hours, timezone)
    if schedule is None:
        return None
    parsed, zone = schedule
    # The library needs a ZoneInfo-aware time (not datetime.timezone.utc).
    local_now = (now or datetime.now(tz=zone)).astimezone(zone)
    state, comment = parsed.state(local_now)
    change = parsed.next_change(local_now)
    if change is not None and change - local_now > timedelta(days=8):
        change = None
    name = {State.OPEN: "open", State.CLOSED: "closed"}.get(state, "unknown")
    return OpenState(name, change, comment, local_now)


@dataclass(frozen=True)
class DayHours:
    """One line of the readable week."""

    day: date
    weekday: str
    ranges: list[str]
    today: bool


def week_hours(hours: str | None, timezone: str | None, today: date | None = None) -> list[DayHours] | None:
    """The next seven days (from today, local time) with their opening ranges, or ``None``."""
    schedule = _schedule(hours, timezone)
    if schedule is None:
        return None
    parsed, zone = schedule
    start_day = today or datetime.now(tz=zone).date()
    start = datetime.combine(start_day, time(), tzinfo=zone)
    week: list[DayHours] = []
    for offset in range(7):
        day = start_day + timedelta(days=offset)
        week.append(DayHours(day, format_date(day, "EEEE").capitalize(), [], offset == 0))
    for begin, end, state, comment in parsed.intervals(start, start + timedelta(days=7)):
        if state != State.OPEN:
            continue
        begin, end = begin.replace(tzinfo=None), end.replace(tzinfo=None)
        cursor = begin
        while cursor < end:
            day_end = datetime.combine(cursor.date() + timedelta(days=1), time())
            piece_end = min(end, day_end)
            index = (cursor.date() - start_day).days
            if 0 <= index < 7:
                label = "24 h" if (cursor.time() == time() and piece_end == day_end) else (
                    f"{cursor:%H:%M}–{'24:00' if piece_end == day_end else f'{piece_end:%H:%M}'}"
                )
                week[index].ranges.append(label + (f" ({comment})" if comment else ""))
            cursor = piece_end
    return week


def distance_label(km: float | None) -> str:
    """"350 m", "1,2 km", "48 km" in the current language's number format."""
    if km is None:
        return ""
    if km < 1:
        return f"{int(round(km * 1000, -1))} m"
    if km < 10:
        return f"{format_decimal(round(km, 1), format='#,##0.0')} km"
    return f"{format_decimal(round(km), format='#,##0')} km"


def language_name(code: str, locale: str) -> str:
    """The name of a language code in the visitor's language (CLDR, then ISO 639), capitalized
    as a list item ("Español", "Haitian Creole")."""
    name = (SPANISH_LANGUAGE_NAMES.get(code) if locale == "es" else None) or _cldr_language_name(code, locale)
    if not name:
        iso = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
        name = iso.name if iso else code
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=256)
def _cldr_language_name(code: str, locale: str) -> str | None:
    return Locale.parse(locale).languages.get(code)


def phone_display(number: str | None) -> str:
    """An E.164 number as people write it ("+52 962 123 4567")."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def whatsapp_url(number: str | None) -> str | None:
    """``https://wa.me/<digits>`` for an E.164 number."""
    if not number:
        return None
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"https://wa.me/{digits}" if digits else None


def geo_url(lat: float, lon: float, label: str | None = None) -> str:
    """A ``geo:`` URI (opens the phone's map app)."""
    point = f"{lat:.5f},{lon:.5f}"
    query = f"?{urlencode({'q': f'{point}({label})'})}" if label else ""
    return f"geo:{point}{query}"


def osm_directions_url(lat: float, lon: float, from_lat: float | None = None, from_lon: float | None = None) -> str:
    """OpenStreetMap directions (or the point, when the start is unknown) as a fallback."""
    if from_lat is not None and from_lon is not None:
        route = f"{from_lat:.3f},{from_lon:.3f};{lat:.5f},{lon:.5f}"
        return "https://www.openstreetmap.org/directions?" + urlencode({"route": route})
    return f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}#map=16/{lat:.5f}/{lon:.5f}"

