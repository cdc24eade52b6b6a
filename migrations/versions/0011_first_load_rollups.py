"""A first load counts its coverage rollups once, at its end.

The statement trigger on ``nearby_search`` INSERT adds each batch of a bulk import to
``coverage_count`` and ``coverage_freshness``; for a first load of a million services that
is a hundred upserts of the same keys.  The trigger now stands aside while the
transaction-local setting ``mapservice.defer_coverage_rollup`` is ``on``; the importer sets
it only when the directory was empty, and counts every row of ``nearby_search`` into the
rollups once before its savepoint ends (services/coverage_rollup.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DEFERRED = "current_setting('mapservice.defer_coverage_rollup', true) = 'on'"


def _insert_trigger(when: str) -> None:
    op.execute("DROP TRIGGER coverage_rollup_insert ON nearby_search")
    op.execute(
        "CREATE TRIGGER coverage_rollup_insert AFTER INSERT ON nearby_search "
        f"REFERENCING NEW TABLE AS added FOR EACH STATEMENT {when}"
        "EXECUTE FUNCTION coverage_rollup_insert()"
    )


def upgrade():
    _insert_trigger(f"WHEN (NOT coalesce({DEFERRED}, false)) ")


def downgrade():
    _insert_trigger("")
