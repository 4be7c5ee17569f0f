"""The ledger held in memory hands out exactly what the indexed reads return: the same rows in
the same order with the same dtypes, so features come out the same whichever path served."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pytest

from features.importers.landing import land
from features.ledger import LedgerStore
from service.portfolio import LedgerSnapshot, WholeLedger, customers_of, ledger_for

from .conftest import TODAY

LEDGER_FRAMES = ("invoices", "payments", "customers", "companies", "statements", "legal_events")


@pytest.fixture(scope="module")
def store(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerStore]:
    """The demo ledger plus an account without invoices, opened for a company that already
    has one (two accounts share its SIREN)."""
    folder = tmp_path_factory.mktemp("whole-ledger")
    shutil.copy(data_dir / "credit_risk.db", folder / "credit_risk.db")
    store = LedgerStore.open(f"sqlite:///{folder / 'credit_risk.db'}")
    existing = store.read("customer", None)
    second = existing.iloc[[0]].assign(customer_id="C99999", name="Second account")
    land(store, {"customer": second}, "second-account", kind="canonical", sha256="", today=TODAY)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def snapshot(store: LedgerStore) -> LedgerSnapshot:
    whole = WholeLedger(store)
    whole.load_in_background()
    whole.wait_loaded()
    loaded = whole.current(1)
    assert loaded is not None
    return loaded


def _shared_siren(store: LedgerStore) -> str:
    return str(store.read("customer").set_index("customer_id").at["C99999", "siren"])


def _ids(store: LedgerStore) -> list[str]:
    return sorted(store.read("customer")["customer_id"].astype(str))


def _cases(store: LedgerStore) -> list[tuple[list[str], list[str]]]:
    ids = _ids(store)
    shared = _shared_siren(store)
    unknown_siren = "999999999"
    return [
        ([ids[0]], []),
        ([ids[5]], []),
        (["C99999"], []),  # no invoices
        (["NOBODY"], []),  # unknown customer
        ([], [shared]),  # a SIREN of two accounts
        ([], [unknown_siren]),
        ([], []),
        ([ids[7], ids[3], "NOBODY", ids[7]], [shared, unknown_siren]),
        (ids[::-1], []),  # every account, named in reverse
        (ids[:40], [shared]),
    ]


def _assert_same(
    store: LedgerStore, snapshot: LedgerSnapshot, ids: Sequence[str], sirens: Sequence[str]
) -> None:
    read = customers_of(store, ids, sirens)
    held = snapshot.customers_of(ids, sirens)
    pd.testing.assert_frame_equal(held, read)
    expected = ledger_for(store, read, sirens)
    found = snapshot.ledger_for(read, sirens)
    for name in LEDGER_FRAMES:
        pd.testing.assert_frame_equal(getattr(found, name), getattr(expected, name), obj=name)


def test_held_frames_equal_the_indexed_reads(store: LedgerStore, snapshot: LedgerSnapshot) -> None:
    for ids, sirens in _cases(store):
        _assert_same(store, snapshot, ids, sirens)


def test_a_siren_of_two_accounts_gives_both(store: LedgerStore, snapshot: LedgerSnapshot) -> None:
    customers = snapshot.customers_of([], [_shared_siren(store)])
    assert len(customers) == 2
    assert "C99999" in set(customers["customer_id"])
    assert snapshot.ledger_for(snapshot.customers_of(["C99999"], []), []).invoices.empty


def test_an_import_makes_the_held_tables_stale(data_dir: Path, tmp_path: Path) -> None:
    shutil.copy(data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    store = LedgerStore.open(f"sqlite:///{tmp_path / 'credit_risk.db'}")
    try:
        whole = WholeLedger(store)
        whole.load_in_background()
        whole.wait_loaded()
        assert whole.current(1) is not None
        extra = store.read("customer").iloc[[0]].assign(customer_id="C88888")
        land(store, {"customer": extra}, "extra", kind="canonical", sha256="", today=TODAY)
        assert whole.current(1) is None  # the database serves until the tables are read again
        whole.wait_loaded()
        fresh = whole.current(1)
        assert fresh is not None
        assert list(fresh.customers_of(["C88888"], [])["customer_id"]) == ["C88888"]
    finally:
        store.close()
