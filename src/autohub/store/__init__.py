"""The store: SQLAlchemy Core over SQLite or PostgreSQL, the one source of truth."""
