"""The schema revision this code expects (the newest migration), importable without
SQLAlchemy or Alembic."""

SCHEMA_HEAD = "0009"
