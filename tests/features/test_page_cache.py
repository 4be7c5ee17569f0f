"""A read of a whole table leaves nothing in the SQLite page cache of the pooled connection
that made it; a scoped read keeps its pages there, for the reads that follow."""

from __future__ import annotations

import ctypes
import importlib
from pathlib import Path

import pytest

from features.demo import generate_portfolio
from features.ledger import LedgerStore
from features.ledger_tables import ledger_tables


def _sqlite_heap() -> int:
    """Bytes SQLite has allocated in this process, as SQLite counts them (its page caches
    among them). Looked up through the module Python's own sqlite3 runs on, whether it holds
    SQLite or links to it."""
    library = ctypes.CDLL(importlib.import_module("_sqlite3").__file__)
    used = library.sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


@pytest.fixture(scope="module")
def ledger_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page-cache") / "ledger.db"
    store = LedgerStore.open(f"sqlite:///{path}")
    try:
        frames = generate_portfolio(seed=3, companies=300, years=3)
        store.write(frames, "demo")
    finally:
        store.close()
    return path


def test_a_whole_table_read_gives_its_pages_back(ledger_db: Path) -> None:
    store = LedgerStore.open(f"sqlite:///{ledger_db}", cache_mb=64, migrate=False)
    try:
        store.read("customer")  # the pool's connection opened, its schema read
        before = _sqlite_heap()
        invoices = store.read("invoice")
        assert len(invoices) > 20_000
        whole = _sqlite_heap() - before
        # The same rows read through a filter that selects them all stay in the cache.
        scoped = store.read("invoice", ledger_tables["invoice"].c.amount > -1)
        assert len(scoped) == len(invoices)
        kept = _sqlite_heap() - before
    finally:
        store.close()
    assert kept > 1_000_000, "the scoped read should have filled the page cache"
    assert whole < kept / 10
