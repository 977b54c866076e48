"""Events of a run or a correlation id come back newest first without a sort: their
indexes carry the time (a run's page was a scan of the project's events by time).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ORDERED = (
    ("ix_automation_events_run", "ix_automation_events_run_created", "run_id"),
    (
        "ix_automation_events_correlation",
        "ix_automation_events_correlation_created",
        "correlation_id",
    ),
)


def upgrade() -> None:
    for old, new, column in _ORDERED:
        op.create_index(
            new, "automation_events", [column, sa.text("created_at DESC"), sa.text("id DESC")]
        )
        op.drop_index(old, table_name="automation_events")


def downgrade() -> None:
    for old, new, column in _ORDERED:
        op.create_index(old, "automation_events", [column])
        op.drop_index(new, table_name="automation_events")
