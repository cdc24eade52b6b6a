"""A first load counts its coverage rollups once, at its end.

The statement trigger on ``nearby_search`` INSERT adds each batch of a bulk import to
``coverage_count`` and ``coverage_freshness``; for a first load of a million services that
is a hundred upserts of the same keys.  The trigger now stands aside while the
transaction-local setting ``mapservice.defer_coverage_rollup`` is ``on``; the importer sets
it only when the directory was empty, and counts every row of ``nearby_search`` into the
rollups once before its savepoint ends, with ``coverage_rollup_add_directory()``: the
triggers' own delta (migration 0007's ``rollup_delta_sql``) over the whole table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""
from alembic import context, op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DEFERRED = "current_setting('mapservice.defer_coverage_rollup', true) = 'on'"


def _migration(revision: str):
    """An earlier migration's module, as alembic loaded it."""
    return context.script.get_revision(revision).module


def _insert_trigger(when: str) -> None:
    op.execute("DROP TRIGGER coverage_rollup_insert ON nearby_search")
    op.execute(
        "CREATE TRIGGER coverage_rollup_insert AFTER INSERT ON nearby_search "
        f"REFERENCING NEW TABLE AS added FOR EACH STATEMENT {when}"
        "EXECUTE FUNCTION coverage_rollup_insert()"
    )


def upgrade():
    _insert_trigger(f"WHEN (NOT coalesce({DEFERRED}, false)) ")
    rollups = _migration("0007")
    statements = rollups.rollup_delta_sql(f"SELECT 1 AS sign, {rollups.ROLLUP_COLUMNS} FROM nearby_search")
    op.execute(
        f"""
        CREATE FUNCTION coverage_rollup_add_directory() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
          {";".join(statements)};
        END $$
        """
    )


def downgrade():
    op.execute("DROP FUNCTION coverage_rollup_add_directory()")
    _insert_trigger("")
