"""Alembic environment: runs on the connection autohub hands over."""

from __future__ import annotations

from alembic import context

from autohub.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
