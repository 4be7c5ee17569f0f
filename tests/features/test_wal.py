"""Checkpoints of the write-ahead log off the commit path, for a served SQLite file."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from features.ledger import LedgerStore, create_ledger_engine
from features.wal import WalCheckpoints

MEGABYTES = 8


def _write_blobs(engine: sa.Engine) -> None:
    """Commit MEGABYTES of random bytes: more than SQLite's threshold of 1,000 pages."""
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS blob (data BLOB)")
        for _ in range(MEGABYTES):
            connection.exec_driver_sql("INSERT INTO blob VALUES (randomblob(1048576))")


def _in_database(database: Path) -> bool:
    """Whether the blobs reached the database file itself, not just the log."""
    return database.stat().st_size >= MEGABYTES * 1024 * 1024


def test_the_thread_copies_what_commits_leave_in_the_log(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    engine = create_ledger_engine(f"sqlite:///{database}", autocheckpoint=False)
    _write_blobs(engine)
    assert not _in_database(database)  # the commit returned without copying the log

    checkpoints = WalCheckpoints(database, seconds=0.05)
    try:
        deadline = time.monotonic() + 20
        while not _in_database(database) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _in_database(database)
        frames, copied = checkpoints.checkpoint()
        assert frames == copied  # nothing left behind
    finally:
        checkpoints.stop()
        engine.dispose()


def test_a_store_served_checkpoints_in_the_background_and_on_closing(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    store = LedgerStore.open(f"sqlite:///{database}", background_checkpoints=True)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    _write_blobs(store.engine)
    store.close()  # stops the thread, then copies what is left
    assert _in_database(database)


def test_other_stores_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    store = LedgerStore.open(f"sqlite:///{database}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    _write_blobs(store.engine)
    assert _in_database(database)  # the commit that filled the log copied it
    store.close()
