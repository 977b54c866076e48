"""The correlation index holds only the events that have a correlation id: most events
have none, and each of them cost an index entry (a page written to the WAL by every
commit that records one) that no query could use.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_NAME = "ix_automation_events_correlation_created"
_COLUMNS: list[str | sa.TextClause] = [
    "correlation_id",
    sa.text("created_at DESC"),
    sa.text("id DESC"),
]


def upgrade() -> None:
    op.drop_index(_NAME, table_name="automation_events")
    has_correlation = sa.text("correlation_id IS NOT NULL")
    op.create_index(
        _NAME,
        "automation_events",
        _COLUMNS,
        sqlite_where=has_correlation,
        postgresql_where=has_correlation,
    )


def downgrade() -> None:
    op.drop_index(_NAME, table_name="automation_events")
    op.create_index(_NAME, "automation_events", _COLUMNS)
