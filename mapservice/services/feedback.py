"""Problems reported by the public about a service, and their handling by its organization."""
from __future__ import annotations

import unicodedata

from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.models import FEEDBACK_KINDS
from mapservice.services.listings import CONTROL_RE

MAX_MESSAGE = 1000


class FeedbackError(ValueError):
    """A refused report, with a message for the visitor."""


def submit_feedback(session: Session, service_id: int, kind: str, message: str) -> int:
    """Store a report about a public service; returns its id.  Nothing about the sender is kept."""
    if kind not in FEEDBACK_KINDS:
        raise FeedbackError("Choose what is wrong.")
    message = unicodedata.normalize("NFC", message or "").strip()
    message = CONTROL_RE.sub(" ", message)[:MAX_MESSAGE]
    return session.execute(
        text("INSERT INTO feedback (service_id, kind, message, state, created_at) "
             "VALUES (:s, :k, :m, 'open', now()) RETURNING id"),  # fmt: skip
        {"s": service_id, "k": kind, "m": message},
    ).scalar_one()


def set_feedback_state(session: Session, feedback_id: int, state: str, user_id: int,
                       organization_id: int | None) -> bool:  # fmt: skip
    """Mark a report open, resolved or dismissed; only for the service's organization (or ``None``: admin)."""
    if state not in ("open", "resolved", "dismissed"):
        return False
    result = session.execute(
        text(
            """
            UPDATE feedback f SET state = CAST(:state AS varchar), handled_at = CASE WHEN CAST(:state AS varchar) = 'open' THEN NULL ELSE now() END,
                   handled_by = :uid
              FROM service s
             WHERE f.id = :id AND s.id = f.service_id
               AND (CAST(:org AS int) IS NULL OR s.organization_id = :org)
            """
        ),
        {"state": state, "uid": user_id, "id": feedback_id, "org": organization_id},
    )
    return result.rowcount == 1
