"""Coverage downloads: CSV (with an HXL hashtag row) and XLSX, safe to open in a spreadsheet.

A spreadsheet runs a cell that starts with ``= + - @`` (or a tab or carriage return) as
a formula.  Every text cell that does is written with a leading apostrophe in CSV and
as an explicit string in XLSX; numbers are written as numbers and left alone.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Font

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Sheet:
    """A table to download: a title, column headers, HXL hashtags (one per column) and rows."""

    title: str
    headers: Sequence[str]
    hashtags: Sequence[str]
    rows: Iterable[Sequence[object]]


def safe_cell(value: object) -> object:
    """``value`` made inert for a spreadsheet: numbers unchanged, formula-like text quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def to_csv(sheet: Sheet) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheets read the accents) with the HXL row second."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in sheet.headers])
    writer.writerow(list(sheet.hashtags))
    for row in sheet.rows:
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(sheet: Sheet) -> bytes:
    """An XLSX workbook of one sheet: headers (bold), the HXL row, then the rows."""
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet.title[:31]
    worksheet.append(list(sheet.headers))
    worksheet.append(list(sheet.hashtags))
    for cell in worksheet[1]:
        cell.font = Font(bold=True)
    for row in sheet.rows:
        worksheet.append([_xlsx_value(v) for v in row])
        for cell in worksheet[worksheet.max_row]:
            if isinstance(cell.value, str) and cell.data_type == "f":
                cell.data_type = "s"  # text that looks like a formula stays text
    worksheet.freeze_panes = "A3"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_value(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    return str(value)
