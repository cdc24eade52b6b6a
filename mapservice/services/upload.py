"""Spreadsheet uploads from the dashboard: CSV or XLSX, validated exactly like `mapservice import`,
previewed with a dry run, written only when confirmed.

The uploaded bytes are kept server-side under a random key until confirmed (or for a day),
so the confirm writes what the preview showed; if the directory changed in between, the
confirm shows the new preview instead of writing.
"""
from __future__ import annotations

import csv
import io
import json
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from mapservice.services.history import Actor
from mapservice.services.importer import ImportRefused, ImportReport, import_listings, read_listing_csv, validate_rows
from mapservice.services.listings import COLUMNS

UPLOAD_DIR = Path(tempfile.gettempdir()) / "mapservice-uploads"
KEEP_SECONDS = 24 * 3600
MAX_ROWS = 5000


@dataclass
class Preview:
    """What an upload would do: the dry-run report, or every bad line."""

    report: ImportReport | None
    errors: list[str]


def xlsx_to_csv(data: bytes) -> str:
    """The first sheet of an XLSX workbook as listing-CSV text."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of errors on a damaged file
        raise ImportRefused(["line 1: the file is not a readable XLSX workbook"]) from None
    sheet = workbook.worksheets[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for values in sheet.iter_rows(values_only=True):
        writer.writerow([_cell(v) for v in values])
    workbook.close()
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return " ".join(str(value).splitlines()).strip()


def listing_text(data: bytes, filename: str) -> bytes | str:
    """The upload as listing-CSV content (XLSX converted)."""
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        return xlsx_to_csv(data)
    return data


def preview(session: Session, data: bytes, filename: str, organization: str, actor: Actor,
            *, write: bool = False) -> Preview:  # fmt: skip
    """Validate the upload for ``organization`` and dry-run it (or, with ``write``, import it)."""
    try:
        rows = list(read_listing_csv(listing_text(data, filename)))
        if len(rows) > MAX_ROWS:
            raise ImportRefused([f"line 1: at most {MAX_ROWS} rows per upload"])
        foreign = [
            f"line {line}: organization '{row.get('organization', '')}' is not your organization ({organization})"
            for line, row in rows
            if "__too_many__" not in row and str(row.get("organization", "")).strip()
            and str(row.get("organization", "")).strip() != organization
        ]
        listings = validate_rows(session, rows) if not foreign else []
        if foreign:
            try:
                validate_rows(session, rows)
            except ImportRefused as refused:
                foreign = sorted(set(foreign) | set(refused.errors), key=lambda e: int(e.split(":")[0].split()[1]))
            raise ImportRefused(foreign)
        report = import_listings(session, listings, dry_run=not write, actor=actor)
    except ImportRefused as refused:
        return Preview(None, refused.errors)
    return Preview(report, [])


def save_upload(user_id: int, data: bytes, filename: str) -> str:
    """Keep the uploaded bytes under a new random key; returns the key."""
    UPLOAD_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    _sweep()
    key = secrets.token_urlsafe(16)
    (UPLOAD_DIR / f"{key}.bin").write_bytes(data)
    (UPLOAD_DIR / f"{key}.json").write_text(json.dumps({"user": user_id, "filename": filename[:200]}))
    return key


def load_upload(user_id: int, key: str) -> tuple[bytes, str] | None:
    """The bytes and file name saved under ``key`` by this user, or ``None``."""
    if not key.replace("-", "").replace("_", "").isalnum() or len(key) > 40:
        return None
    meta_path, data_path = UPLOAD_DIR / f"{key}.json", UPLOAD_DIR / f"{key}.bin"
    try:
        meta = json.loads(meta_path.read_text())
        if meta["user"] != user_id:
            return None
        return data_path.read_bytes(), meta["filename"]
    except (OSError, ValueError, KeyError):
        return None


def drop_upload(key: str) -> None:
    """Forget an upload (after it was written)."""
    for suffix in (".bin", ".json"):
        (UPLOAD_DIR / f"{key}{suffix}").unlink(missing_ok=True)


def _sweep() -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in UPLOAD_DIR.glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def template_csv(organization: str) -> str:
    """A listing CSV with the header and one example row for ``organization``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow([organization, "my-001", "Asesoría legal", "Orientación sobre asilo", "protection.legal;protection.documentation",
                     "asylum_seekers", "es;en", "MX", "Calle 5 Norte 12, Tapachula", "14.9056", "-92.2633",
                     "+52 962 625 1234", "", "", "", "Mo-Fr 08:00-16:00", "yes", "no"])  # fmt: skip
    return out.getvalue()
