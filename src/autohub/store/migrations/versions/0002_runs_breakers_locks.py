"""Runs, their steps and attempts; shared circuit breakers; concurrency leases.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("automation", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("params", JSONValue, nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("max_parallel", sa.Integer, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("started_at", Moment),
        sa.Column("finished_at", Moment),
        sa.Column("deadline_at", Moment),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_expires_at", Moment),
        sa.Column("cancel_requested_at", Moment),
        sa.UniqueConstraint("automation", "idempotency_key", name="uq_runs_idempotency"),
    )
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_index(
        "ix_runs_automation_created", "runs", ["automation", sa.text("created_at DESC")]
    )
    op.create_index("ix_runs_project_created", "runs", ["project_id", sa.text("created_at DESC")])

    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("step_id", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Moment),
        sa.Column("output", JSONValue),
        sa.Column("error", sa.Text),
        sa.Column("method", sa.String(100)),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_expires_at", Moment),
        sa.Column("started_at", Moment),
        sa.Column("finished_at", Moment),
    )
    op.create_index("ix_run_steps_idempotency", "run_steps", ["idempotency_key"])

    op.create_table(
        "step_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step_id", sa.String(100), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("method", sa.String(100), nullable=False),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("started_at", Moment, nullable=False),
        sa.Column("finished_at", Moment, nullable=False),
        sa.Column("duration_seconds", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("output_snippet", sa.Text),
    )
    op.create_index("ix_step_attempts_run_step", "step_attempts", ["run_id", "step_id", "number"])

    op.create_table(
        "breakers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("probes_in_flight", sa.Integer, nullable=False),
        sa.Column("opened_at", Moment),
        sa.Column("updated_at", Moment, nullable=False),
    )
    op.create_table(
        "lock_tokens",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("last_token", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "lock_leases",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("holder", sa.String(200), primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
    )
    op.create_table(
        "lock_waiters",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("enqueued_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.UniqueConstraint("key", "holder", name="uq_lock_waiters_key_holder"),
    )


def downgrade() -> None:
    for table in ("lock_waiters", "lock_leases", "lock_tokens", "breakers"):
        op.drop_table(table)
    op.drop_index("ix_step_attempts_run_step", table_name="step_attempts")
    op.drop_table("step_attempts")
    op.drop_index("ix_run_steps_idempotency", table_name="run_steps")
    op.drop_table("run_steps")
    for name in ("ix_runs_project_created", "ix_runs_automation_created", "ix_runs_state"):
        op.drop_index(name, table_name="runs")
    op.drop_table("runs")
