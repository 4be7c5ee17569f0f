"""Small statements that every request runs (the ledger's version, an API key, the decisions
of a few scores logged), through one connection held open in autocommit mode.

A statement through the engine checks a connection out of the pool, begins and ends a
transaction and builds a result: about 50 microseconds on SQLite for a one-row look-up that
the database answers in 2. A `HeldConnection` keeps one of the engine's connections, detached
from its pool, in autocommit mode (each statement sees every commit before it, holds no
snapshot or lock once its rows are read, and a write commits on its own), runs statements
compiled once for the engine's dialect, and hands back plain tuples. Threads take turns on
it; a read whose connection fails (a database server restarted) is tried once more on a new
connection.

Only for statements whose values the driver takes and gives as they are wanted (numbers,
text): no SQLAlchemy type processing runs on them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["HeldConnection"]


_SQLITE_CACHE_KIB = 1024


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # bind names in order for positional drivers, else None


class HeldConnection:
    """Run small statements on a connection of `engine` held open in autocommit mode."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._connection: Any = None  # the pool's proxy of a DBAPI connection
        self._compiled: dict[int, tuple[sa.Select[Any], _Compiled]] = {}

    def rows(
        self, statement: sa.Select[Any], values: Mapping[str, object] | None = None
    ) -> list[tuple[Any, ...]]:
        """Every row the statement returns, as tuples."""
        compiled = self._compile(statement)
        given = dict(values or {})
        parameters: Any = (
            given if compiled.names is None else tuple(given[name] for name in compiled.names)
        )
        with self._lock:
            try:
                return self._run(compiled.sql, parameters)
            except self.engine.dialect.loaded_dbapi.Error:
                self._drop()  # a broken connection: one more try on a fresh one
                return self._run(compiled.sql, parameters)

    def write_rows(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement in the driver's own SQL and parameter style for each row of
        values, in one transaction (a single row: the statement commits on its own). Not
        tried again: a write that failed may have committed (the connection is dropped and
        the error raised)."""
        with self._lock:
            try:
                if len(rows) == 1:
                    self._run(sql, rows[0], fetch=False)
                else:
                    self._run_in_transaction(sql, rows)
            except self.engine.dialect.loaded_dbapi.Error:
                self._drop()
                raise

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __del__(self) -> None:  # a connection left open would warn when collected
        self._drop()

    def _run(self, sql: str, parameters: Any, *, fetch: bool = True) -> list[tuple[Any, ...]]:
        if self._connection is None:
            connection = self.engine.raw_connection()
            # Out of the pool for good: closed, not returned, when dropped or collected (the
            # pool would otherwise hand it out again in autocommit mode).
            connection.detach()
            dbapi_connection = connection.dbapi_connection
            assert dbapi_connection is not None  # a fresh checkout is connected
            self.engine.dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")
            if self.engine.dialect.name == "sqlite":
                # A few statements' pages: not the page cache the pool's connections are given
                # (held for the worker's life, it would fill with the decision log's indexes).
                cursor = dbapi_connection.cursor()
                cursor.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
                cursor.close()
            self._connection = connection
        cursor = self._connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, parameters)
            return [tuple(row) for row in cursor.fetchall()] if fetch else []
        finally:
            cursor.close()

    def _run_in_transaction(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._run("BEGIN", (), fetch=False)
        cursor = self._connection.dbapi_connection.cursor()
        try:
            cursor.executemany(sql, rows)
            cursor.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(self.engine.dialect.loaded_dbapi.Error):
                cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:  # detached: closing it closes the driver's connection
            with contextlib.suppress(self.engine.dialect.loaded_dbapi.Error):  # already broken
                connection.close()

    def _compile(self, statement: sa.Select[Any]) -> _Compiled:
        found = self._compiled.get(id(statement))
        if found is not None and found[0] is statement:
            return found[1]
        compiled = statement.compile(dialect=self.engine.dialect)
        positional = self.engine.dialect.positional
        names = tuple(compiled.positiontup or ()) if positional else None
        made = _Compiled(compiled.string, names)
        self._compiled[id(statement)] = (statement, made)
        return made
