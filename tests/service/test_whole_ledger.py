"""The book held in memory scores exactly as the indexed reads do: the same subjects, features,
scores, reasons and terms, whichever path served the request."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest

from features.importers.landing import land
from features.ledger import LedgerStore
from service.errors import UnknownCustomer
from service.model_host import BundleDirectory, ModelHost
from service.portfolio import WholeLedger
from service.schemas import CompanyData, ScoreRequest, ScoreResponse
from service.scoring import Scorer, probe_features
from service.terms import default_policy

from .conftest import TODAY


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


def _scorer(store: LedgerStore, model_dir: Path, max_rows: int) -> Scorer:
    host = ModelHost(BundleDirectory(model_dir), probe=lambda: probe_features(store, TODAY))
    host.reload()
    scorer = Scorer(store, host, lambda: TODAY, default_policy(), max_rows)
    scorer.whole_ledger.wait_loaded()
    return scorer


@pytest.fixture(scope="module")
def held(store: LedgerStore, model_dir: Path) -> Scorer:
    scorer = _scorer(store, model_dir, max_rows=10_000_000)
    assert scorer.whole_ledger.current(1) is not None
    return scorer


@pytest.fixture(scope="module")
def read(store: LedgerStore, model_dir: Path) -> Scorer:
    scorer = _scorer(store, model_dir, max_rows=0)
    assert scorer.whole_ledger.current(1) is None
    return scorer


def _ids(store: LedgerStore) -> list[str]:
    return sorted(store.read("customer")["customer_id"].astype(str))


def _shared_siren(store: LedgerStore) -> str:
    return str(store.read("customer").set_index("customer_id").at["C99999", "siren"])


def _prospect_siren(store: LedgerStore) -> str:
    companies = store.read("company")
    return str(companies.loc[~companies["siren"].isin(store.read("customer")["siren"]), "siren"]
               .iloc[0])  # fmt: skip


def _comparable(response: ScoreResponse) -> dict[str, object]:
    return response.model_dump(mode="json", exclude={"decision_id"})


def _assert_same(held: Scorer, read: Scorer, requests: Sequence[ScoreRequest]) -> None:
    from_memory = held.score(requests, explain=True)
    from_database = read.score(requests, explain=True)
    assert [_comparable(r) for r in from_memory] == [_comparable(r) for r in from_database]


def test_known_customers_score_the_same(store: LedgerStore, held: Scorer, read: Scorer) -> None:
    ids = _ids(store)
    requests = [
        ScoreRequest(customer_id=ids[0]),
        ScoreRequest(customer_id=ids[5], amount=12_000, terms_days=60, po_number=" "),
        ScoreRequest(customer_id=ids[7], amount=900, po_number="PO-7", as_of=date(2025, 6, 30)),
        ScoreRequest(customer_id="C99999", amount=3_000),  # an account without invoices
        ScoreRequest(customer_id=ids[7], amount=40_000, terms_days=30),
    ]
    _assert_same(held, read, requests)
    _assert_same(held, read, [ScoreRequest(customer_id=i, amount=5_000) for i in ids[::-1]])


def test_companies_score_the_same(store: LedgerStore, held: Scorer, read: Scorer) -> None:
    """A SIREN of two accounts scores its first; a registry company without an account
    scores as a prospect; the SIREN beside its own customer id is accepted."""
    shared = _shared_siren(store)
    own = next(i for i in _ids(store) if i != "C99999")
    siren = str(store.read("customer").set_index("customer_id").at[own, "siren"])
    requests = [
        ScoreRequest(siren=shared, amount=8_000),
        ScoreRequest(siren=_prospect_siren(store), amount=2_500, terms_days=45),
        ScoreRequest(customer_id=own, siren=siren),
    ]
    _assert_same(held, read, requests)
    assert held.score(requests[:1], explain=False)[0].subject.customer_id != "C99999"


def test_inline_company_data_is_read_from_the_database(store: LedgerStore, held: Scorer) -> None:
    """The book holds no inline company: such a request takes the database path, and its
    answer uses the data given."""
    siren = _prospect_siren(store)
    inline = CompanyData(siren=siren, name="As the caller knows it", naf_code="56.10A")
    [scored] = held.score([ScoreRequest(company=inline, amount=1_000)], explain=False)
    assert scored.subject.name == "As the caller knows it"
    assert scored.subject.prospect


def test_an_unknown_customer_is_named_on_either_path(held: Scorer, read: Scorer) -> None:
    for scorer in (held, read):
        with pytest.raises(UnknownCustomer) as raised:
            scorer.score([ScoreRequest(customer_id="NOBODY")], explain=False, fields=["items[0]."])
        assert raised.value.field == "items[0].customer_id"


def test_a_write_makes_the_held_book_stale_until_read_again_after_a_pause(
    data_dir: Path, tmp_path: Path
) -> None:
    """After a write the database serves until the book is read again, no sooner than four
    times the last read's duration after that read: a stream of writes leaves the CPU to the
    requests."""
    shutil.copy(data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    store = LedgerStore.open(f"sqlite:///{tmp_path / 'credit_risk.db'}")
    try:
        whole = WholeLedger(store)
        whole.load_in_background()
        whole.wait_loaded()
        read_ended, took = time.monotonic(), whole.read_seconds
        assert took > 0
        assert whole.current(1) is not None
        extra = store.read("customer").iloc[[0]].assign(customer_id="C88888")
        land(store, {"customer": extra}, "extra", kind="canonical", sha256="", today=TODAY)
        assert whole.current(1) is None  # the database serves until the book is read again
        whole.wait_loaded()
        assert time.monotonic() - read_ended >= 4 * took
        fresh = whole.current(1)
        assert fresh is not None
        assert fresh.directory is not None
        assert "C88888" in fresh.directory.customers
    finally:
        store.close()


def test_a_book_over_the_limit_is_not_held(store: LedgerStore) -> None:
    whole = WholeLedger(store, max_rows=10)
    whole.load_in_background()
    whole.wait_loaded()
    assert whole.current(1) is None
