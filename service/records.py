"""Bring the service's tables (keys, decision log, ingestion answers) to their latest schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from features.ledger import upgrade_schema

__all__ = ["migrate_service_tables"]

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate_service_tables(engine: Engine) -> None:
    """Run the service's Alembic migrations (their own version table) on this database."""
    upgrade_schema(engine, MIGRATIONS)
