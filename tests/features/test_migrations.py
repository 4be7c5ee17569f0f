"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from features.ledger import MIGRATIONS, LedgerStore
from features.ledger_tables import import_log, metadata


def test_migrated_database_matches_the_declared_tables(store: LedgerStore) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_migrating_twice_is_harmless(store: LedgerStore) -> None:
    store.migrate()
    assert store.counts()["invoice"] == 0


def test_the_ledger_version_starts_from_the_imports_already_logged(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")  # a store made before the version existed
            for source in ("a.csv", "b.csv", "c.csv"):
                connection.execute(
                    import_log.insert().values(
                        source=source, kind="canonical", content_sha256="", rows_read=0,
                        rows_added=0, rows_updated=0, detail="{}",
                        imported_at=datetime(2026, 1, 5, tzinfo=UTC),
                    )
                )  # fmt: skip
        store = LedgerStore(engine)
        store.migrate()
        assert store.version() == 3
    finally:
        engine.dispose()
