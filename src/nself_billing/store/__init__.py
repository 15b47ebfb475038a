"""Persistence: SQLAlchemy Core tables and queries, one code path for SQLite and PostgreSQL."""
