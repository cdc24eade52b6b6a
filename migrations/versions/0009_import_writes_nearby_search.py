"""The bulk import writes the nearby search rows of its new services itself.

The statement trigger on ``service_at_location`` INSERT refreshes ``nearby_search`` by
joining service, organization, link and location again for every id the statement added
(and analyzes those tables first when there are many): for a 100,000-row import that was
a quarter of the database's work, to find values the import already holds.  The trigger
now stands aside while the transaction-local setting ``mapservice.defer_nearby_search`` is
``on``; the importer sets it around its own INSERT and fills ``nearby_search`` from its plan
(services/importer.py).  Every other write still goes through the trigger.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DEFERRED = "current_setting('mapservice.defer_nearby_search', true) = 'on'"


def _insert_trigger(when: str) -> None:
    op.execute("DROP TRIGGER nearby_search_insert ON service_at_location")
    op.execute(
        "CREATE TRIGGER nearby_search_insert AFTER INSERT ON service_at_location "
        f"REFERENCING NEW TABLE AS changed FOR EACH STATEMENT {when}"
        "EXECUTE FUNCTION nearby_search_from_service_at_location()"
    )


def upgrade():
    _insert_trigger(f"WHEN (NOT coalesce({DEFERRED}, false)) ")


def downgrade():
    _insert_trigger("")
