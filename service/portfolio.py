"""Reads of the ledger scoped to what one request names, and a customer's history summary.

A score needs only its subjects' rows: the customers' invoices and payments, the companies'
registry rows, accounts and legal events, selected by id and SIREN with indexed look-ups, so
a request costs the same whatever the size of the ledger.

A batch naming a large part of the book reads it from `WholeLedger` instead: the tables kept in
memory between batches and read again when an import has changed the ledger. It hands out the
same rows in the same order as SQLite's indexed look-ups, so the features (whose sums depend on
the order of the rows) come out the same to the last bit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
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


# The whole book is read when a batch names at least this share of the customer accounts, and
# kept only while the ledger is at most this large (about 100 bytes a row in memory).
_WHOLE_SHARE = 0.25
_WHOLE_MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class _Table:
    """A whole table sorted by one column (stably: in stored order within a key), as the
    indexed look-up by that column returns it, with each row's code in a key space."""

    rows: pd.DataFrame
    codes: np.ndarray  # per row: the position of its key in `keys` (payments: their customer's)
    keys: pd.Index

    @classmethod
    def of(cls, rows: pd.DataFrame, column: str) -> _Table:
        rows = rows.sort_values(column, kind="stable", ignore_index=True)
        keys = pd.Index(rows[column].drop_duplicates().to_numpy(dtype=object))
        return cls(rows, keys.get_indexer(rows[column].to_numpy(dtype=object)), keys)

    def payments(self, payments: pd.DataFrame) -> _Table:
        """Payments as `_payments_of` reads them for these invoices' customers: coded by the
        customer of their invoice, in invoice id order (within a chunk of customers)."""
        invoice = positions_in(self.rows["invoice_id"], payments["invoice_id"])
        customer = np.where(invoice >= 0, self.codes[np.maximum(invoice, 0)], -1)
        order = np.argsort(payments["invoice_id"].to_numpy(dtype=object), kind="stable")
        rows = payments.take(order).reset_index(drop=True)
        return _Table(rows, customer[order], self.keys)

    def rows_of(self, values: Sequence[str]) -> pd.DataFrame:
        """What `read_by` returns: chunk by chunk of the distinct values in their order, and in
        each chunk by key (the database walks its index in key order)."""
        unique = list(dict.fromkeys(values))
        found = self.keys.get_indexer(pd.Index(unique, dtype=object))
        chunk_of_key = np.full(len(self.keys) + 1, -1)  # the last slot: code -1, no key
        chunk_of_key[found[found >= 0]] = np.flatnonzero(found >= 0) // _CHUNK
        chunk = chunk_of_key[self.codes]
        wanted = np.flatnonzero(chunk >= 0)
        order = wanted[np.argsort(chunk[wanted], kind="stable")]
        return self.rows.take(order).reset_index(drop=True)


@dataclass(frozen=True)
class _Snapshot:
    stamp: tuple[int, int]  # of the import log: (count, last id)
    tables: dict[str, _Table]  # none when the book is too large to hold


class WholeLedger:
    """The ledger tables held in memory, for batches that name a large part of the book.

    Every write to the ledger logs an import in the same transaction (`LedgerStore.write`), so
    the count and last id of the import log tell whether the tables read are still current.
    """

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def ledger_for(self, customers: pd.DataFrame, sirens: Sequence[str]) -> Ledger | None:
        """What `ledger_for` would read, the same frames in the same order, or None when the
        batch is too small to be worth the whole book, or the book too large to hold."""
        customer_ids, company_sirens = _keys_of(customers, sirens)
        if len(customer_ids) <= _CHUNK:
            return None
        snapshot = self._current(len(customer_ids))
        if snapshot is None:
            return None
        tables = snapshot.tables
        return Ledger(
            invoices=tables["invoice"].rows_of(customer_ids),
            payments=tables["payment"].rows_of(customer_ids),
            customers=customers,
            companies=tables["company"].rows_of(company_sirens),
            statements=tables["financial_statement"].rows_of(company_sirens),
            legal_events=tables["legal_event"].rows_of(company_sirens),
        )

    def _current(self, customer_count: int) -> _Snapshot | None:
        stamp = self._stamp()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.stamp == stamp:
            return snapshot if snapshot.tables else None
        if customer_count < _WHOLE_SHARE * self.store.count("customer"):
            return None
        with self._lock:  # one reader at a time; the others wait for its snapshot
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

    def _read(self, stamp: tuple[int, int]) -> _Snapshot:
        """The tables as of `stamp`; none when the book is too large (remembered as well)."""
        if self.store.count("invoice") + self.store.count("payment") > _WHOLE_MAX_ROWS:
            return _Snapshot(stamp, {})
        invoices = _Table.of(self.store.read("invoice"), "customer_id")
        tables = {
            "invoice": invoices,
            "payment": invoices.payments(self.store.read("payment")),
            **{name: _Table.of(self.store.read(name), "siren")
               for name in ("company", "financial_statement", "legal_event")},
        }  # fmt: skip
        if self._stamp() != stamp:  # an import landed meanwhile: serve this batch, keep nothing
            return _Snapshot((-1, -1), tables)
        return _Snapshot(stamp, tables)


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
