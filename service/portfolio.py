"""Reads of the ledger scoped to what one request names, and a customer's history summary.

A score needs only its subjects' rows: the customers' invoices and payments, the companies'
registry rows, accounts and legal events, selected by id and SIREN with indexed look-ups, so
a request costs the same whatever the size of the ledger.

When the book is small enough to hold, requests read it from `WholeLedger` instead: the tables
kept in memory (loaded in the background once the worker is ready, read again when an import
has changed the ledger), with each key's rows located once per load. It hands out the same rows
in the same order as SQLite's indexed look-ups, so the features (whose sums depend on the order
of the rows) come out the same to the last bit; a request then costs a slice of arrays, not six
queries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.ledger import LedgerStore
from features.ledger_tables import import_log, ledger_tables
from features.point_in_time import (
    LATE_DAYS,
    NEVER,
    Ledger,
    day_numbers,
    positions_in,
    settlement_days,
)

__all__ = [
    "HistorySummary",
    "LedgerSnapshot",
    "WholeLedger",
    "customers_of",
    "history_summary",
    "ledger_for",
    "read_by",
]

# SQLite accepts 32,766 bound parameters per statement; chunks keep far below on every backend.
_CHUNK = 900


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


_EMPTY: dict[str, pd.DataFrame] = {}


def _empty(store: LedgerStore, table: str) -> pd.DataFrame:
    """A table's typed empty frame; the same for every store, so read once per process."""
    if table not in _EMPTY:
        _EMPTY[table] = store.read(table, sa.false())
    return _EMPTY[table].copy()


def read_by(store: LedgerStore, table: str, column: str, values: Iterable[str]) -> pd.DataFrame:
    """The rows of a table whose `column` is one of `values` (no values, no rows)."""
    column_of = ledger_tables[table].c[column]
    frames = [store.read(table, column_of.in_(chunk)) for chunk in _chunks(list(values))]
    if not frames:
        return _empty(store, table)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def customers_of(
    store: LedgerStore, customer_ids: Sequence[str], sirens: Sequence[str]
) -> pd.DataFrame:
    """Customer accounts named by id or by the SIREN of their company."""
    by_id = read_by(store, "customer", "customer_id", customer_ids)
    by_siren = read_by(store, "customer", "siren", sirens)
    both = pd.concat([by_id, by_siren], ignore_index=True)
    return both.drop_duplicates("customer_id").sort_values("customer_id", ignore_index=True)


def _payments_of(store: LedgerStore, customer_ids: Sequence[str]) -> pd.DataFrame:
    invoice, payment = ledger_tables["invoice"], ledger_tables["payment"]
    frames = [
        store.read(
            "payment",
            payment.c.invoice_id.in_(
                sa.select(invoice.c.invoice_id).where(invoice.c.customer_id.in_(chunk))
            ),
        )
        for chunk in _chunks(customer_ids)
    ]
    if not frames:
        return _empty(store, "payment")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def ledger_for(store: LedgerStore, customers: pd.DataFrame, sirens: Sequence[str]) -> Ledger:
    """The part of the ledger that the features of these customers and companies read."""
    customer_ids, company_sirens = _keys_of(customers, sirens)
    return Ledger(
        invoices=read_by(store, "invoice", "customer_id", customer_ids),
        payments=_payments_of(store, customer_ids),
        customers=customers,
        companies=read_by(store, "company", "siren", company_sirens),
        statements=read_by(store, "financial_statement", "siren", company_sirens),
        legal_events=read_by(store, "legal_event", "siren", company_sirens),
    )


def _keys_of(customers: pd.DataFrame, sirens: Sequence[str]) -> tuple[list[str], list[str]]:
    """The customer ids and SIRENs whose rows `ledger_for` reads, in the order it reads them."""
    customer_ids = customers["customer_id"].astype(str).tolist()
    company_sirens = list(dict.fromkeys([*sirens, *customers["siren"].dropna().astype(str)]))
    return customer_ids, company_sirens


# The whole book is read on the spot when a batch names at least this share of the customer
# accounts; smaller requests use it once a background read has loaded it. It is kept only while
# the ledger is at most this large (about 100 bytes a row in memory).
_WHOLE_SHARE = 0.25
_WHOLE_MAX_ROWS = 2_000_000
# How long the background read waits for its condition (e.g. the model loaded), and how often
# it looks.
_WAIT_SECONDS, _POLL_SECONDS = 60.0, 0.1


@dataclass(frozen=True)
class _Table:
    """A whole table sorted by one column (stably: in stored order within a key), as the
    indexed look-up by that column returns it, with the rows of each key grouped."""

    rows: pd.DataFrame
    keys: pd.Index
    grouped: np.ndarray  # row positions ordered by key code, in row order within a key
    starts: np.ndarray  # the rows of key code c: grouped[starts[c] : starts[c + 1]]
    code_of: dict[str, int]  # a key's code: its position in `keys`

    @classmethod
    def of(cls, rows: pd.DataFrame, column: str) -> _Table:
        rows = rows.sort_values(column, kind="stable", ignore_index=True)
        return cls.grouped_by(rows, column)

    @classmethod
    def grouped_by(cls, rows: pd.DataFrame, column: str) -> _Table:
        """The rows as they stand, grouped by a column (its missing values in no group)."""
        keys = pd.Index(rows[column].dropna().drop_duplicates().to_numpy(dtype=object))
        return cls.coded(rows, keys.get_indexer(rows[column].to_numpy(dtype=object)), keys)

    @classmethod
    def coded(cls, rows: pd.DataFrame, codes: np.ndarray, keys: pd.Index) -> _Table:
        held = np.flatnonzero(codes >= 0)
        grouped = held[np.argsort(codes[held], kind="stable")]
        starts = np.searchsorted(codes[grouped], np.arange(len(keys) + 1))
        return cls(rows, keys, grouped, starts, {key: code for code, key in enumerate(keys)})

    def payments(self, payments: pd.DataFrame) -> _Table:
        """Payments as `_payments_of` reads them for these invoices' customers: grouped by the
        customer of their invoice, in invoice id order (within a chunk of customers)."""
        codes = np.full(len(self.rows), -1)
        codes[self.grouped] = np.repeat(np.arange(len(self.keys)), np.diff(self.starts))
        invoice = positions_in(self.rows["invoice_id"], payments["invoice_id"])
        customer = np.where(invoice >= 0, codes[np.maximum(invoice, 0)], -1)
        order = np.argsort(payments["invoice_id"].to_numpy(dtype=object), kind="stable")
        rows = payments.take(order).reset_index(drop=True)
        return _Table.coded(rows, customer[order], self.keys)

    def positions(self, values: Sequence[str]) -> np.ndarray:
        """The positions of what `read_by` returns: chunk by chunk of the distinct values in
        their order, and in each chunk in row order (the database walks its index in key
        order, and the rows are sorted as it stores them)."""
        # A dict, not `Index.get_indexer`: a request names a few keys, and pandas' set-up
        # would cost more than the look-ups.
        found = np.array(
            [self.code_of.get(value, -1) for value in dict.fromkeys(values)], dtype=np.intp
        )
        chunks = [
            self._rows_of_codes(found[start : start + _CHUNK])
            for start in range(0, len(found), _CHUNK)
        ]
        return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.intp)

    def _rows_of_codes(self, codes: np.ndarray) -> np.ndarray:
        codes = codes[codes >= 0]
        first, counts = self.starts[codes], self.starts[codes + 1] - self.starts[codes]
        # for each wanted row: its group's first slot plus its rank within the group
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.sort(self.grouped[np.repeat(first, counts) + offsets])

    def rows_of(self, values: Sequence[str]) -> pd.DataFrame:
        """What `read_by` returns for these values: the same rows in the same order."""
        return self.rows.take(self.positions(values)).reset_index(drop=True)


@dataclass(frozen=True)
class LedgerSnapshot:
    """The ledger tables as of one state of the import log, cut per request like the reads."""

    stamp: tuple[int, int]  # of the import log: (count, last id)
    tables: dict[str, _Table]  # none when the book is too large to hold
    customers_by_siren: _Table | None = None  # the customer table grouped by SIREN

    def customers_of(self, customer_ids: Sequence[str], sirens: Sequence[str]) -> pd.DataFrame:
        """What `customers_of` reads: the accounts named by id or SIREN, sorted by id."""
        by_id, by_siren = self.tables["customer"], self.customers_by_siren
        assert by_siren is not None
        positions = np.union1d(by_id.positions(customer_ids), by_siren.positions(sirens))
        return by_id.rows.take(positions).reset_index(drop=True)

    def ledger_for(self, customers: pd.DataFrame, sirens: Sequence[str]) -> Ledger:
        """What `ledger_for` reads: the same frames in the same order."""
        customer_ids, company_sirens = _keys_of(customers, sirens)
        tables = self.tables
        return Ledger(
            invoices=tables["invoice"].rows_of(customer_ids),
            payments=tables["payment"].rows_of(customer_ids),
            customers=customers,
            companies=tables["company"].rows_of(company_sirens),
            statements=tables["financial_statement"].rows_of(company_sirens),
            legal_events=tables["legal_event"].rows_of(company_sirens),
        )


log = logging.getLogger(__name__)


class WholeLedger:
    """The ledger tables held in memory, so that a request reads no database but the import log.

    Every write to the ledger logs an import in the same transaction (`LedgerStore.write`), so
    the count and last id of the import log tell whether the tables read are still current.
    A batch naming a large part of the book reads them on the spot; smaller requests read from
    the database until a background read has loaded them (`load_in_background`, started once the
    worker is ready and by the first such request after each import).
    """

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._snapshot: LedgerSnapshot | None = None
        self._lock = threading.Lock()  # one reader of the whole book at a time
        self._loader: threading.Thread | None = None
        self._loader_lock = threading.Lock()

    def current(self, subject_count: int) -> LedgerSnapshot | None:
        """The tables as the ledger stands, or None when they are not loaded (yet) or the book
        is too large to hold. `subject_count` customers and companies are to be scored."""
        stamp = self._stamp()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.stamp == stamp:
            return snapshot if snapshot.tables else None
        if subject_count <= _CHUNK or subject_count < _WHOLE_SHARE * self.store.count("customer"):
            self.load_in_background()
            return None
        return self._load(stamp)

    def load_in_background(self, once: Callable[[], bool] | None = None) -> None:
        """Start reading the tables in a thread of their own, unless one already is; `once`
        given, the thread waits until it holds (for a minute at most) before reading."""
        with self._loader_lock:
            if self._loader is not None and self._loader.is_alive():
                return
            self._loader = threading.Thread(
                target=self._load_quietly, args=(once,), name="whole-ledger", daemon=True
            )
            self._loader.start()

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Wait for the background read, if one is under way (for tests and benchmarks)."""
        loader = self._loader
        if loader is not None:
            loader.join(timeout)

    def _load_quietly(self, once: Callable[[], bool] | None) -> None:
        waited = 0.0
        while once is not None and not once() and waited < _WAIT_SECONDS:
            time.sleep(_POLL_SECONDS)
            waited += _POLL_SECONDS
        try:
            self._load(self._stamp())
        except Exception as error:  # requests still read the database: a slower path, not an outage
            log.warning("the ledger was not loaded into memory: %s", error)

    def _load(self, stamp: tuple[int, int]) -> LedgerSnapshot | None:
        with self._lock:  # the other readers wait for this one's snapshot
            snapshot = self._snapshot
            if snapshot is None or snapshot.stamp != stamp:
                snapshot = self._read(stamp)
                if snapshot.stamp == stamp:
                    self._snapshot = snapshot
        return snapshot if snapshot.tables else None

    def _stamp(self) -> tuple[int, int]:
        query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(import_log.c.import_id), 0))
        with self.store.connect() as connection:
            count, last = connection.execute(query).one()
        return int(count), int(last)

    def _read(self, stamp: tuple[int, int]) -> LedgerSnapshot:
        """The tables as of `stamp`; none when the book is too large (remembered as well)."""
        if self.store.count("invoice") + self.store.count("payment") > _WHOLE_MAX_ROWS:
            return LedgerSnapshot(stamp, {})
        invoices = _Table.of(self.store.read("invoice"), "customer_id")
        customers = _Table.of(self.store.read("customer"), "customer_id")
        tables = {
            "customer": customers,
            "invoice": invoices,
            "payment": invoices.payments(self.store.read("payment")),
            **{name: _Table.of(self.store.read(name), "siren")
               for name in ("company", "financial_statement", "legal_event")},
        }  # fmt: skip
        by_siren = _Table.grouped_by(customers.rows, "siren")
        if self._stamp() != stamp:  # an import landed meanwhile: serve this batch, keep nothing
            return LedgerSnapshot((-1, -1), tables, by_siren)
        return LedgerSnapshot(stamp, tables, by_siren)


@dataclass(frozen=True)
class HistorySummary:
    """How a customer (or all accounts of a company) has paid, as of a day."""

    invoice_count: int
    invoiced_amount: float
    open_count: int
    open_amount: float
    overdue_count: int
    overdue_amount: float
    settled_count: int
    settled_late_count: int  # settled more than LATE_DAYS after the due date
    mean_days_late: float | None  # over settled invoices; None when none is settled
    first_invoice_date: date | None
    last_invoice_date: date | None


def history_summary(invoices: pd.DataFrame, payments: pd.DataFrame, as_of: date) -> HistorySummary:
    """Counts and amounts of invoices issued before `as_of`, with what was paid by then."""
    day = int(day_numbers(pd.Series([pd.Timestamp(as_of)]))[0])
    issued = invoices[day_numbers(invoices["issue_date"]) <= day].reset_index(drop=True)
    known = payments[day_numbers(payments["paid_date"]) <= day]
    settled_day = settlement_days(issued, known)
    paid = known.groupby("invoice_id")["amount"].sum()
    amount = issued["amount"].to_numpy(dtype=float)
    open_amount = np.maximum(amount - issued["invoice_id"].map(paid).fillna(0).to_numpy(), 0)
    is_open = settled_day == NEVER
    overdue = is_open & (day_numbers(issued["due_date"]) < day)
    days_late = (settled_day - day_numbers(issued["due_date"]))[~is_open]
    return HistorySummary(
        invoice_count=len(issued),
        invoiced_amount=round(float(amount.sum()), 2),
        open_count=int(is_open.sum()),
        open_amount=round(float(open_amount[is_open].sum()), 2),
        overdue_count=int(overdue.sum()),
        overdue_amount=round(float(open_amount[overdue].sum()), 2),
        settled_count=int((~is_open).sum()),
        settled_late_count=int((days_late > LATE_DAYS).sum()),
        mean_days_late=round(float(days_late.mean()), 1) if len(days_late) else None,
        first_invoice_date=_day(issued["issue_date"].min()),
        last_invoice_date=_day(issued["issue_date"].max()),
    )


def _day(value: object) -> date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()
