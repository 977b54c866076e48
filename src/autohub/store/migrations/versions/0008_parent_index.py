"""An index on ``parent_id``, holding only the events that have a parent: correlating by
an event id asks for its children too, and without the index that one term made every
such query read the whole table.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_NAME = "ix_automation_events_parent"


def upgrade() -> None:
    has_parent = sa.text("parent_id IS NOT NULL")
    op.create_index(
        _NAME,
        "automation_events",
        ["parent_id"],
        sqlite_where=has_parent,
        postgresql_where=has_parent,
    )


def downgrade() -> None:
    op.drop_index(_NAME, table_name="automation_events")
