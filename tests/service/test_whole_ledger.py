"""The book held in memory scores exactly as the indexed reads do: the same subjects, features,
scores, reasons and terms, whichever path served the request."""

from __future__ import annotations

import gc
import itertools
import json
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.importers.landing import land
from features.ledger import LedgerStore
from features.point_in_time import day_number
from service.answers import ScoreAnswer, answers_json
from service.errors import UnknownCustomer
from service.model_host import BundleDirectory, ModelHost
from service.portfolio import WholeLedger
from service.schemas import CompanyData, ScoreRequest
from service.scoring import Scorer, probe_features
from service.terms import default_policy
from tests.conftest import copy_database

from .conftest import TODAY, collector_pauses_ended


@pytest.fixture(scope="module")
def store(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerStore]:
    """The demo ledger plus an account without invoices, opened for a company that already
    has one (two accounts share its SIREN)."""
    folder = tmp_path_factory.mktemp("whole-ledger")
    copy_database(data_dir / "credit_risk.db", folder / "credit_risk.db")
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
    assert scorer.whole_ledger.current([], []) is not None
    return scorer


@pytest.fixture(scope="module")
def read(store: LedgerStore, model_dir: Path) -> Scorer:
    scorer = _scorer(store, model_dir, max_rows=0)
    assert scorer.whole_ledger.current([], []) is None
    return scorer


def _ids(store: LedgerStore) -> list[str]:
    return sorted(store.read("customer")["customer_id"].astype(str))


def _shared_siren(store: LedgerStore) -> str:
    return str(store.read("customer").set_index("customer_id").at["C99999", "siren"])


def _prospect_siren(store: LedgerStore) -> str:
    companies = store.read("company")
    return str(companies.loc[~companies["siren"].isin(store.read("customer")["siren"]), "siren"]
               .iloc[0])  # fmt: skip


def _comparable(answer: ScoreAnswer) -> dict[str, object]:
    return {k: v for k, v in json.loads(answers_json([answer])[0]).items() if k != "decision_id"}


def _assert_same(
    held: Scorer, read: Scorer, requests: Sequence[ScoreRequest], explain: bool = True
) -> None:
    from_memory = held.score(requests, explain=explain)
    from_database = read.score(requests, explain=explain)
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


def test_the_held_book_remembers_every_account_as_of_today(held: Scorer) -> None:
    """Reading the book looks up every account's subject as of today, so that a day's scores
    of known customers skip the look-up (the tests above compare their values)."""
    book = held.whole_ledger.current([], [])
    assert book is not None
    prepared = book.prepared
    today = day_number(TODAY)
    ready = {customer for customer, _, day in prepared._subjects if day == today}
    assert ready >= set(range(prepared.customer_codes.unknown))  # prospects' (-1) may be there too


def test_a_new_day_looks_up_every_account_again_without_a_read(store: LedgerStore) -> None:
    """Past midnight, with no write to re-read the book, the first request starts the look-up
    of the new day's subjects, once, and the book stays the same."""
    day = [TODAY]
    whole = WholeLedger(store, today=lambda: day[0])
    whole.load_in_background()
    whole.wait_loaded()
    book = whole.current([], [])
    assert book is not None
    prepared = book.prepared
    accounts = set(range(prepared.customer_codes.unknown))

    def remembered(on: date) -> set[int]:
        return {customer for customer, _, at in prepared._subjects if at == day_number(on)}

    assert remembered(TODAY) == accounts
    day[0] = TODAY + timedelta(days=1)
    assert whole.current([], []) is book
    started = whole._remembering
    assert whole.current([], []) is book
    assert whole._remembering is started  # a second request starts nothing more
    whole.wait_loaded()
    assert remembered(day[0]) == accounts
    assert prepared.remembered_day == day_number(day[0])


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
    copy_database(data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    store = LedgerStore.open(f"sqlite:///{tmp_path / 'credit_risk.db'}")
    try:
        whole = WholeLedger(store)
        whole.load_in_background()
        whole.wait_loaded()
        read_ended, took = time.monotonic(), whole.read_seconds
        assert took > 0
        first, other = store.read("customer").sort_values("customer_id").iloc[[0, -1]].itertuples()
        assert whole.current([first.customer_id], []) is not None
        extra = store.read("customer").iloc[[first.Index]].assign(customer_id="C88888")
        land(store, {"customer": extra}, "extra", kind="canonical", sha256="", today=TODAY)
        # The new account and its company's are touched: the database serves them until the
        # book is read again; other customers are still served from the book.
        assert whole.current(["C88888"], []) is None
        assert whole.current([first.customer_id], []) is None
        assert whole.current([], [first.siren]) is None
        assert whole.current([other.customer_id], []) is not None
        whole.wait_loaded()
        assert time.monotonic() - read_ended >= 4 * took
        fresh = whole.current(["C88888"], [])
        assert fresh is not None
        assert fresh.directory is not None
        assert "C88888" in fresh.directory.customers
    finally:
        store.close()


def test_a_book_over_the_limit_is_not_held(store: LedgerStore) -> None:
    whole = WholeLedger(store, max_rows=10)
    whole.load_in_background()
    whole.wait_loaded()
    assert whole.current([], []) is None


def test_a_stopped_book_starts_no_read(store: LedgerStore) -> None:
    """A service that stops (its database closed next) leaves no read behind: neither one
    waiting for its condition nor one asked for afterwards."""
    before = set(threading.enumerate())
    whole = WholeLedger(store, max_rows=10_000_000)
    whole.load_in_background(once=lambda: False)  # a model that never comes: a minute's wait
    whole.stop()
    whole.wait_loaded(timeout=5)
    whole.load_in_background()
    assert whole.current([], []) is None  # which would ask for a read too
    whole.wait_loaded(timeout=5)
    assert whole.version is None
    assert [t for t in threading.enumerate() if t not in before and t.name == "whole-ledger"] == []


def test_the_book_is_read_with_the_collector_paused(store: LedgerStore) -> None:
    """A read makes short-lived rows by the hundred thousand: the collector's automatic passes
    over them cost a third of the read, each one holding every request of the worker. The
    only collection while the book is read is the one made on purpose before it is frozen."""
    whole = WholeLedger(store, max_rows=10_000_000)
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and threading.current_thread().name == "whole-ledger":
            collections.append(info["generation"])

    collector_pauses_ended()  # a read still under way (an earlier test's app) would hold the pause
    was = gc.isenabled()
    gc.enable()
    gc.collect()  # the counts start from nothing
    gc.callbacks.append(seen)
    try:
        whole.load_in_background()
        whole.wait_loaded()
        held = whole.current([], [])
        on_after = gc.isenabled()
    finally:
        gc.callbacks.remove(seen)
        gc.unfreeze()  # the book froze this test process's objects too
        if not was:
            gc.disable()
    assert held is not None
    assert collections == [2]  # gc.collect() before freezing
    assert on_after  # on again once read


# ---- a book held while writes land ---------------------------------------------------------

_serial = itertools.count(1)


def _new_invoice(store: LedgerStore, data: st.DataObject) -> None:
    issued = TODAY - timedelta(days=data.draw(st.integers(1, 400), "issued days ago"))
    row = {
        "invoice_id": f"T{next(_serial)}",
        "customer_id": data.draw(st.sampled_from(_ids(store)), "customer"),
        "issue_date": issued,
        "due_date": issued + timedelta(days=data.draw(st.sampled_from([0, 30, 60]), "terms")),
        "amount": data.draw(st.sampled_from([12.5, 900.0, 48_000.0]), "amount"),
        "disputed": data.draw(st.booleans(), "disputed"),
    }
    _land(store, "invoice", row)


def _payment(store: LedgerStore, data: st.DataObject) -> None:
    invoices = store.read("invoice").set_index("invoice_id")
    paid = store.read("payment").groupby("invoice_id")["amount"].sum()
    left = (invoices["amount"] - paid.reindex(invoices.index).fillna(0)).round(2)
    early = invoices["issue_date"] <= pd.Timestamp(TODAY - timedelta(days=1))
    open_ids = sorted(left[(left >= 1) & early].index)
    invoice_id = data.draw(st.sampled_from(open_ids), "invoice")
    # Settles it: a part payment leaves an invoice open, and the features as they were.
    row = {"payment_id": f"Q{next(_serial)}", "invoice_id": invoice_id,
           "paid_date": TODAY - timedelta(days=1), "amount": float(left[invoice_id])}  # fmt: skip
    _land(store, "payment", row)


def _customer_moves(store: LedgerStore, data: st.DataObject) -> None:
    customer_id = data.draw(st.sampled_from(_ids(store)), "customer")
    own = store.read("customer").set_index("customer_id").at[customer_id, "siren"]
    siren = data.draw(st.sampled_from([s for s in _sirens(store) if s != own]), "to SIREN")
    _land(store, "customer", {"customer_id": customer_id, "siren": siren})


def _new_account(store: LedgerStore, data: st.DataObject) -> None:
    """An account of a company with one already: one sorting first becomes its account."""
    prefix = data.draw(st.sampled_from(["A", "Z"]), "sorts")
    siren = data.draw(st.sampled_from(_sirens(store)), "SIREN")
    row = {"customer_id": f"{prefix}{next(_serial)}", "siren": siren, "name": "New account",
           "po_required": data.draw(st.booleans(), "po")}  # fmt: skip
    _land(store, "customer", row)


def _company_changes(store: LedgerStore, data: st.DataObject) -> None:
    companies = store.read("company").set_index("siren")
    siren = data.draw(st.sampled_from(_sirens(store)), "SIREN")
    naf = data.draw(st.sampled_from(["10.11Z", "46.69B", "62.01Z"]), "NAF")
    row = {"siren": siren, "name": str(companies.at[siren, "name"]), "naf_code": naf,
           "share_capital": data.draw(st.sampled_from([1_000.0, 5e6]), "capital")}  # fmt: skip
    _land(store, "company", row)


def _accounts_filed(store: LedgerStore, data: st.DataObject) -> None:
    row = {"siren": data.draw(st.sampled_from(_sirens(store)), "SIREN"),
           "fiscal_year_end": date(2025, 6, 30), "publication_date": TODAY - timedelta(days=3),
           "revenue": data.draw(st.sampled_from([2e5, 8e6]), "revenue"), "total_assets": 3e6,
           "equity": data.draw(st.sampled_from([-5e4, 1e6]), "equity")}  # fmt: skip
    _land(store, "financial_statement", row)


def _proceedings(store: LedgerStore, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["sauvegarde", "redressement", "liquidation"]), "kind")
    ago = timedelta(days=data.draw(st.integers(1, 90), "days ago"))
    row = {"event_id": f"E{next(_serial)}", "kind": kind, "event_date": TODAY - ago,
           "siren": data.draw(st.sampled_from(_sirens(store)), "SIREN")}  # fmt: skip
    _land(store, "legal_event", row)


_WRITES = (_new_invoice, _payment, _customer_moves, _new_account, _company_changes,
           _accounts_filed, _proceedings)  # fmt: skip


def _land(store: LedgerStore, table: str, row: dict[str, object]) -> None:
    land(store, {table: pd.DataFrame([row])}, f"written {table}", kind="canonical", sha256="",
         today=TODAY)  # fmt: skip


def _sirens(store: LedgerStore) -> list[str]:
    return sorted(store.read("company")["siren"].astype(str))


@pytest.fixture(scope="module")
def written(
    data_dir: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LedgerStore, Scorer, Scorer]]:
    """A ledger that writes land on, scored from a book held since the first one (never read
    again) and from the database."""
    folder = tmp_path_factory.mktemp("written-ledger")
    copy_database(data_dir / "credit_risk.db", folder / "credit_risk.db")
    store = LedgerStore.open(f"sqlite:///{folder / 'credit_risk.db'}")
    held = _scorer(store, model_dir, max_rows=0)
    held.whole_ledger = WholeLedger(store, read_spacing=1e6)
    held.whole_ledger.load_in_background()
    held.whole_ledger.wait_loaded()
    try:
        yield store, held, _scorer(store, model_dir, max_rows=0)
    finally:
        store.close()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_book_held_across_writes_scores_every_subject_as_the_database_does(
    written: tuple[LedgerStore, Scorer, Scorer], data: st.DataObject
) -> None:
    """Writes of every kind land after the book was read; the book then serves the subjects
    none of them touched, the database the others, and every customer and company gets the
    answer the database alone gives."""
    store, held, read = written
    book_version = held.whole_ledger.version
    for write in data.draw(st.permutations(_WRITES), "writes"):  # one of each kind
        write(store, data)
    assert book_version is not None
    assert book_version < store.version()
    requests = [ScoreRequest(customer_id=i, amount=5_000) for i in _ids(store)]
    requests += [ScoreRequest(siren=s, amount=5_000, terms_days=45) for s in _sirens(store)]
    for start in range(0, len(requests), 20):  # a few at a time: a large batch reads the book
        _assert_same(held, read, requests[start : start + 20], explain=False)
    assert held.whole_ledger.version == book_version  # never read again: served as it was
    served = [i for i in _ids(store) if held.whole_ledger.current([i], []) is not None]
    assert 0 < len(served) < len(_ids(store))
