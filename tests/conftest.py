"""Shared fixtures: a ledger store on SQLite and, when a server is there, on PostgreSQL.

PostgreSQL tests need CREDIT_RISK_TEST_POSTGRES_URL (a role allowed to create databases; each
test gets a database of its own). Without it they skip on a developer's machine and fail in CI,
where `.ci/run` starts the server.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from features.ledger import LedgerStore

TODAY = date(2026, 11, 23)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_part(available: bool, what: str) -> None:
    """Skip when a system part is missing locally; in CI a missing part is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available on this machine")


def copy_database(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite file that a running service may be writing: its commits
    stay in the write-ahead log until a thread copies them back, so a plain file copy could
    miss them, or catch that thread half-way and give a malformed file."""
    with closing(sqlite3.connect(source)) as read, closing(sqlite3.connect(target)) as written:
        read.backup(written)
    return target


@pytest.fixture
def today() -> date:
    return TODAY


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[LedgerStore]:
    store = LedgerStore.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield store
    store.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    admin_url = os.environ.get("CREDIT_RISK_TEST_POSTGRES_URL")
    require_part(bool(admin_url), "PostgreSQL (CREDIT_RISK_TEST_POSTGRES_URL)")
    assert admin_url is not None
    name = f"credit_risk_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin: sa.Engine, name: str, attempts: int = 40) -> None:
    """Drop a test database. FORCE ends the connections left to it, but not an autovacuum
    worker that a role without pg_signal_backend may not end: that worker is done within
    moments, so the drop is tried again."""
    for attempt in range(attempts):
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except sa.exc.ProgrammingError as error:
            if "pg_signal_backend" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.25)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    """The ledger store on each supported database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = LedgerStore.open(url)
    yield opened
    opened.close()
