"""The held connection of the hot reads sees every commit, holds nothing between reads, and
survives a connection the database ended."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.held_connection import HeldConnection
from features.ledger import LedgerStore, create_ledger_engine
from features.ledger_tables import ledger_version

_RAISE = "UPDATE ledger_version SET version = version + 1"


def _elsewhere(store: LedgerStore) -> sa.Engine:
    """Another engine on the same database, as another worker or the CLI would open."""
    return create_ledger_engine(store.engine.url.render_as_string(hide_password=False))


def test_each_read_sees_the_commits_made_before_it(store: LedgerStore) -> None:
    other = _elsewhere(store)
    try:
        first = store.version()
        for step in range(1, 6):
            with other.begin() as connection:
                connection.exec_driver_sql(_RAISE)
            assert store.version() == first + step
    finally:
        other.dispose()


def test_threads_take_turns_on_the_held_connection(store: LedgerStore) -> None:
    reads = HeldConnection(store.engine)
    wanted = sa.select(ledger_version.c.version).where(
        ledger_version.c.version >= sa.bindparam("least")
    )
    try:
        expected = store.version()
        with ThreadPoolExecutor(max_workers=4) as pool:
            found = list(pool.map(lambda _: reads.rows(wanted, {"least": 0}), range(400)))
        assert found == [[(expected,)]] * 400
        assert reads.rows(wanted, {"least": expected + 1}) == []
    finally:
        reads.close()


def test_a_connection_the_database_ended_is_replaced(store: LedgerStore) -> None:
    version = store.version()
    held = store._held._connection
    assert held is not None
    if store.engine.dialect.name == "postgresql":
        other = _elsewhere(store)
        try:
            with other.begin() as connection:
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        finally:
            other.dispose()
    else:
        held.dbapi_connection.close()
    assert store.version() == version
    assert store._held._connection is not held


def test_a_held_connection_keeps_no_snapshot_that_would_stop_a_checkpoint(
    sqlite_store: LedgerStore,
) -> None:
    """Between reads the connection holds no read transaction: a checkpoint that must wait for
    every reader (TRUNCATE) copies the whole log back and empties it."""
    database = sqlite_store.engine.url.database
    assert database is not None
    sqlite_store.version()
    with sqlite3.connect(database) as writer:
        writer.execute(_RAISE)
    sqlite_store.version()
    with sqlite3.connect(database) as checkpointer:
        busy, log_frames, copied = checkpointer.execute(
            "PRAGMA wal_checkpoint(TRUNCATE)"
        ).fetchone()
    assert (busy, log_frames, copied) == (0, 0, 0)


def test_a_write_commits_on_its_own_and_the_pool_keeps_its_transactions(
    store: LedgerStore,
) -> None:
    """A held write is seen at once from another connection; the pool never gets the held
    connection back (it would hand it out in autocommit mode, and a transaction rolled back
    there would keep its writes)."""
    with store.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE scratch (n INTEGER)")
    held = HeldConnection(store.engine)
    insert = (
        "INSERT INTO scratch (n) VALUES (?)"
        if store.engine.dialect.name == "sqlite"
        else ("INSERT INTO scratch (n) VALUES (%s)")
    )
    other = _elsewhere(store)
    try:
        held.write_rows(insert, [(1,)])
        with other.connect() as connection:
            assert connection.exec_driver_sql("SELECT n FROM scratch").all() == [(1,)]
        held.close()
        del held
        for _ in range(3):  # whichever pooled connection comes, a rollback undoes its writes
            try:
                with store.engine.begin() as connection:
                    connection.exec_driver_sql("INSERT INTO scratch (n) VALUES (2)")
                    raise RuntimeError("undo")
            except RuntimeError:
                pass
        with other.connect() as connection:
            assert connection.exec_driver_sql("SELECT n FROM scratch").all() == [(1,)]
    finally:
        other.dispose()


def test_rows_written_together_commit_together_or_not_at_all(store: LedgerStore) -> None:
    """Several rows are one transaction: all seen at once, or none when one fails, and the
    next write still works (on a new connection)."""
    with store.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE scratch (n INTEGER PRIMARY KEY)")
    held = HeldConnection(store.engine)
    mark = "?" if store.engine.dialect.name == "sqlite" else "%s"
    insert = f"INSERT INTO scratch (n) VALUES ({mark})"
    other = _elsewhere(store)

    def stored() -> list[int]:
        with other.connect() as connection:
            return [n for (n,) in connection.exec_driver_sql("SELECT n FROM scratch ORDER BY n")]

    try:
        held.write_rows(insert, [(1,), (2,), (3,)])
        assert stored() == [1, 2, 3]
        with pytest.raises(store.engine.dialect.loaded_dbapi.IntegrityError):
            held.write_rows(insert, [(4,), (5,), (2,), (6,)])  # 2 is there already
        assert stored() == [1, 2, 3]
        held.write_rows(insert, [(4,), (5,)])
        assert stored() == [1, 2, 3, 4, 5]
    finally:
        held.close()
        other.dispose()


def test_a_held_sqlite_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """Held for a worker's life, its page cache stays at 1 MiB whatever the pool's is."""
    store = LedgerStore.open(f"sqlite:///{tmp_path / 'ledger.db'}", cache_mb=16)
    try:
        store.version()
        held = store._held._connection
        assert held is not None
        assert held.dbapi_connection.execute("PRAGMA cache_size").fetchone() == (-1024,)
        with store.engine.connect() as pooled:
            assert pooled.exec_driver_sql("PRAGMA cache_size").one() == (-16 * 1024,)
    finally:
        store.close()
