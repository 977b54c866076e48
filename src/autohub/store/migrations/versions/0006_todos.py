"""Todos: the action items that hook output and automations complete.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "todos",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(128)),
        sa.Column("detection", Json),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.Column("completed_at", Moment),
        sa.UniqueConstraint("project_id", "session_id", "title", name="uq_todos_session_title"),
    )
    op.create_index("ix_todos_project_status", "todos", ["project_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_todos_project_status", table_name="todos")
    op.drop_table("todos")
