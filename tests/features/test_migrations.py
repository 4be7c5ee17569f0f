"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from features.ledger import LedgerStore
from features.ledger_tables import metadata


def test_migrated_database_matches_the_declared_tables(store: LedgerStore) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_migrating_twice_is_harmless(store: LedgerStore) -> None:
    store.migrate()
    assert store.counts()["invoice"] == 0
