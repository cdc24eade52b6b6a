"""Spreadsheet-safe listing CSV: formula neutralizing, its exact inverse, and the HXL row.

A cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, after any number of apostrophes) is written with one more
apostrophe in front, which spreadsheets treat as "this is text".  Plain numbers (``-92.26``,
``+529626251234``) are no formula risk and stay as they are.  The import removes exactly that
one apostrophe, so export -> import gives back the original text; a hand-written cell like
``'=1+1`` is read as ``=1+1``, as a spreadsheet would show it.
"""
from __future__ import annotations

import re

_FORMULA_RE = re.compile(r"^'*[=+\-@\t\r]")
_ESCAPED_RE = re.compile(r"^'+[=+\-@\t\r]")
_NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?$")

# HXL (Humanitarian Exchange Language) hashtags of the export's columns, written as the
# second row.  See https://hxlstandard.org/standard/1-1final/dictionary/
HXL_TAGS = {
    "organization": "#org",
    "external_id": "#service+code",
    "service_name": "#service+name",
    "description": "#description",
    "categories": "#sector+code",
    "populations": "#beneficiary+code",
    "languages": "#meta+language+code",
    "country": "#country+code",
    "address": "#loc+address",
    "latitude": "#geo+lat",
    "longitude": "#geo+lon",
    "phone": "#contact+phone",
    "whatsapp": "#contact+phone+whatsapp",
    "email": "#contact+email",
    "website": "#contact+url",
    "hours": "#access+hours",
    "free": "#access+free",
    "confidential": "#meta+confidential",
    "admin1": "#adm1+code",
}


def neutralize_formula(value: str) -> str:
    """``value`` made safe to open in a spreadsheet (see the module docstring)."""
    if _FORMULA_RE.match(value) and not _NUMBER_RE.match(value):
        return "'" + value
    return value


def restore_formula(value: str) -> str:
    """The exact inverse of :func:`neutralize_formula`."""
    if _ESCAPED_RE.match(value) and not _NUMBER_RE.match(value[1:]):
        return value[1:]
    return value


def is_hxl_row(values: list[str]) -> bool:
    """True for an HXL hashtag row: every non-empty cell starts with ``#``."""
    cells = [v.strip() for v in values if v.strip()]
    return bool(cells) and all(c.startswith("#") for c in cells)
