"""Strict parsing of query-string parameters into clean values or :class:`APIError`."""
from __future__ import annotations

import math
import re
import uuid
from datetime import datetime, timedelta, timezone

from mapservice.errors import APIError

CODE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)?$"
)


def _raw(args, name: str) -> str | None:
    value = args.get(name)
    if value is None or value.strip() == "":
        return None
    if "\x00" in value:
        raise APIError("invalid_parameter", f"{name} contains a NUL byte")
    return value.strip()


def float_param(args, name: str, low: float, high: float, *, required: bool = False) -> float | None:
    """A finite float within ``[low, high]``."""
    raw = _raw(args, name)
    if raw is None:
        if required:
            raise APIError("missing_parameter", f"{name} is required")
        return None
    try:
        value = float(raw)
    except ValueError:
        raise APIError("invalid_parameter", f"{name} must be a number, not {raw[:40]!r}") from None
    if not math.isfinite(value):
        raise APIError("invalid_parameter", f"{name} must be a finite number")
    if not low <= value <= high:
        raise APIError("invalid_parameter", f"{name} must be between {low:g} and {high:g}")
    return value


def int_param(args, name: str, low: int, high: int, default: int) -> int:
    """An integer within ``[low, high]``, or ``default`` when absent."""
    raw = _raw(args, name)
    if raw is None:
        return default
    if not re.fullmatch(r"[-+]?\d{1,12}", raw):
        raise APIError("invalid_parameter", f"{name} must be an integer, not {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise APIError("invalid_parameter", f"{name} must be between {low} and {high}")
    return value


def code_param(args, name: str, known: frozenset[str] | None = None) -> str | None:
    """A vocabulary code (category, population, language); unknown codes are refused."""
    raw = _raw(args, name)
    if raw is None:
        return None
    value = raw.lower()
    if not CODE_RE.match(value) or (known is not None and value not in known):
        raise APIError("invalid_parameter", f"unknown {name} {raw[:64]!r}")
    return value


def text_param(args, name: str, max_length: int = 200) -> str | None:
    """Free text (a town name), without control characters, at most ``max_length`` long."""
    raw = _raw(args, name)
    if raw is None:
        return None
    if len(raw) > max_length:
        raise APIError("invalid_parameter", f"{name} is longer than {max_length} characters")
    if any(ord(ch) < 32 for ch in raw):
        raise APIError("invalid_parameter", f"{name} contains control characters")
    return raw


def bbox_param(args, name: str = "bbox") -> tuple[float, float, float, float] | None:
    """A CRS84 bounding box ``minlon,minlat,maxlon,maxlat`` (a 6-number 3D box drops its
    heights); a min lon larger than the max lon crosses the antimeridian."""
    raw = _raw(args, name)
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise APIError("invalid_parameter", f"{name} must be 4 numbers: min lon, min lat, max lon, max lat")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise APIError("invalid_parameter", f"{name} must be numbers separated by commas") from None
    if not all(math.isfinite(n) for n in numbers):
        raise APIError("invalid_parameter", f"{name} must be finite numbers")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise APIError("invalid_parameter", f"{name} is outside -180..180 longitude, -90..90 latitude")
    if miny > maxy:
        raise APIError("invalid_parameter", f"{name}: the min latitude is above the max latitude")
    return minx, miny, maxx, maxy


def bool_param(args, name: str) -> bool:
    """A boolean flag: ``true``/``false`` (also ``1``/``0``); absent is false."""
    raw = _raw(args, name)
    if raw is None:
        return False
    value = raw.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise APIError("invalid_parameter", f"{name} must be true or false, not {raw[:40]!r}")


def uuid_param(args, name: str) -> uuid.UUID | None:
    """A UUID (``3f7b145d-84af-42d7-8fae-eaca714b02b2``)."""
    raw = _raw(args, name)
    if raw is None:
        return None
    if not UUID_RE.match(raw):
        raise APIError("invalid_parameter", f"{name} must be a UUID, not {raw[:40]!r}")
    return uuid.UUID(raw)


def datetime_param(args, name: str) -> datetime | None:
    """An RFC 3339 date-time (``2026-11-29T17:00:00Z``) or date (``2026-11-29``, midnight UTC);
    without an offset the time is UTC.  A leap second counts as the second before it."""
    raw = _raw(args, name)
    if raw is None:
        return None
    match = DATETIME_RE.match(raw)
    if not match:
        raise APIError("invalid_parameter", f"{name} must be a date-time like 2026-11-29T17:00:00Z, not {raw[:40]!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        zone = timezone.utc
        if offset and offset.upper() != "Z":
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        # Year 0 is valid RFC 3339 but not a Python date: it is before everything anyway.
        moment = datetime(max(int(year), 1), int(month), int(day), int(hour or 0), int(minute or 0),
                          min(int(second or 0), 59), int((fraction or ".0")[1:7].ljust(6, "0")), zone)  # fmt: skip
    except ValueError:
        raise APIError("invalid_parameter", f"{name} is not a valid date-time: {raw[:40]!r}") from None
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # within a day of year 1 or 9999
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=timezone.utc)
