"""Reads of the ledger scoped to what one request names, and a customer's history summary.

A score needs only its subjects' rows: the customers' invoices and payments, the companies'
registry rows, accounts and legal events, selected by id and SIREN with indexed look-ups, so
a request costs the same whatever the size of the ledger.

When the book is small enough to hold, requests use `WholeLedger` instead: the book read once
(in the background once the worker is ready, again when an import has changed the ledger) and
kept only as a prepared ledger (sorted arrays and running sums) and a directory of accounts and
companies. A request then costs a few binary searches, not six queries; a customer's features
restart from zero with its own rows, so both paths give the same values to the last bit.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.ledger import LedgerStore, Touched
from features.ledger_tables import ledger_tables
from features.point_in_time import (
    LATE_DAYS,
    NEVER,
    Ledger,
    PreparedLedger,
    day_number,
    day_numbers,
    settlement_days,
)
from service.memory import cyclic_collection_paused, give_back_freed_memory
from service.recommending import COMPANY_FIELDS, CUSTOMER_FIELDS
from service.settings import WHOLE_MAX_ROWS

__all__ = [
    "WHOLE_MAX_ROWS",
    "Directory",
    "HeldBook",
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
# the ledger has at most `max_rows` invoices and payments (the setting memory_ledger_max_rows).
_WHOLE_SHARE = 0.25
# How long the background read waits for its condition (e.g. the model loaded), and how often
# it looks.
_WAIT_SECONDS, _POLL_SECONDS = 60.0, 0.1
# After a write the book is read again in the background, but not before this many times the
# last read's duration has passed since that read ended: a stream of ingestion requests, each
# one a write, would otherwise keep a thread reading the book all the time and take the CPU
# from the requests (which read the database meanwhile). It bounds that thread to a fifth of
# a core.
_READ_SPACING = 4.0
_BOOK_TABLES = ("invoice", "payment", "customer", "company", "financial_statement", "legal_event")
# Of the two large tables, only the columns the features read.
_BOOK_COLUMNS = {
    "invoice": ("invoice_id", "customer_id", "issue_date", "due_date", "amount", "disputed"),
    "payment": ("invoice_id", "paid_date", "amount"),
}


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _first_rows(
    frame: pd.DataFrame, key: str, fields: Sequence[str]
) -> dict[str | None, dict[str, object]]:
    """The first row of each key as {field: value}, the values `frame.loc[key]` would give."""
    rows: dict[str | None, dict[str, object]] = {}
    columns = [frame[name].tolist() for name in fields]
    for value, *values in zip(frame[key].tolist(), *columns, strict=True):
        if value not in rows:
            rows[value] = dict(zip(fields, values, strict=True))
    return rows


@dataclass(frozen=True)
class Directory:
    """Customer accounts and companies by key, so that resolving n requests is O(n), with the
    registry and account fields the terms policy reads."""

    customers: dict[str, tuple[str | None, str | None]]  # customer_id -> (siren, name)
    account_of: dict[str, str]  # SIREN -> its first customer account
    company_names: dict[str, str | None]  # SIREN -> registered name
    company_fields: dict[str | None, dict[str, object]]  # SIREN -> COMPANY_FIELDS
    customer_fields: dict[str | None, dict[str, object]]  # customer_id -> CUSTOMER_FIELDS

    @classmethod
    def of(cls, customers: pd.DataFrame, companies: pd.DataFrame) -> Directory:
        """From customer rows sorted by id (the first account of a SIREN is its lowest id) and
        registry rows."""
        accounts = [
            (str(customer_id), _text(siren), _text(name))
            for customer_id, siren, name in customers[["customer_id", "siren", "name"]].itertuples(
                index=False
            )
        ]
        account_of: dict[str, str] = {}
        for customer_id, siren, _ in accounts:
            if siren is not None:
                account_of.setdefault(siren, customer_id)
        names = zip(companies["siren"].astype(str), companies["name"], strict=True)
        return cls(
            customers={customer_id: (siren, name) for customer_id, siren, name in accounts},
            account_of=account_of,
            company_names={siren: _text(name) for siren, name in names},
            company_fields=_first_rows(companies, "siren", COMPANY_FIELDS),
            customer_fields=_first_rows(customers, "customer_id", CUSTOMER_FIELDS),
        )

    def name(self, siren: str | None, fallback: str | None) -> str | None:
        found = self.company_names.get(siren) if siren is not None else None
        return found or fallback


@dataclass(frozen=True)
class HeldBook:
    """The book prepared for feature queries, and its directory of accounts and companies."""

    prepared: PreparedLedger
    directory: Directory


@dataclass(frozen=True)
class LedgerSnapshot:
    """What was held of the book as of one version of the ledger."""

    version: int  # the ledger's (LedgerStore.version); -1: none, nothing to keep
    book: HeldBook | None  # none when the book is too large to hold


log = logging.getLogger(__name__)


class WholeLedger:
    """The book held in memory as a prepared ledger, so that a request reads no database but
    the ledger's version.

    Every write to the ledger raises its version in the same transaction (`LedgerStore.write`),
    so one look-up tells whether the book held is still current; when it is not, the subjects
    the writes since touched (also kept by `write`) tell which requests it still answers
    exactly: under a stream of ingestion requests, most customers are not the ones written.
    A batch naming a large part of the book reads it on the spot; other requests read from
    the database until a background read has loaded it (`load_in_background`, started once the
    worker is ready and by the first request after a write that touched its subjects), no
    sooner than `read_spacing` times the last read's duration after that read. With `today`
    given, each read also looks up what is known that day of every account (its subject
    features), so that a day's scores of known customers find them ready.
    """

    def __init__(
        self,
        store: LedgerStore,
        max_rows: int = WHOLE_MAX_ROWS,
        read_spacing: float = _READ_SPACING,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.store = store
        self.today = today
        self.max_rows = max_rows
        self.read_spacing = read_spacing
        self._snapshot: LedgerSnapshot | None = None
        self._lock = threading.Lock()  # one reader of the whole book at a time
        self._loader: threading.Thread | None = None
        self._loader_lock = threading.Lock()
        self._stopped = threading.Event()  # no background read starts once set
        self._remembering = threading.Thread()  # the look-up of a new day's subjects, if any
        self.read_seconds = 0.0  # how long the last read of the whole book took
        self._next_read_at = 0.0  # time.monotonic() before which no background read starts
        # What writes touched since a version (from, up to, what): see `_touched_since`.
        self._touches: tuple[int, int, Touched] = (-1, -1, Touched())
        self._touches_lock = threading.Lock()

    @property
    def version(self) -> int | None:
        """The ledger's version when the book held was read; None when none is held."""
        snapshot = self._snapshot
        return None if snapshot is None or snapshot.book is None else snapshot.version

    def current(self, customer_ids: Sequence[str], sirens: Sequence[str]) -> HeldBook | None:
        """The book, if it gives these customers and companies what the ledger holds now;
        None when it is not loaded (yet), too large to hold, or some write since it was read
        touched one of them (the database serves them until the book is read again)."""
        if self.max_rows <= 0:
            return None
        version = self.store.version()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.version == version:
            return self._of_today(snapshot.book)
        if self._serves(snapshot, version, customer_ids, sirens):
            self.load_in_background()  # for the subjects touched meanwhile
            return self._of_today(snapshot.book) if snapshot is not None else None
        count = len({*customer_ids, *sirens})
        if count <= _CHUNK or count < _WHOLE_SHARE * self.store.count("customer"):
            self.load_in_background()
            return None
        book = self._load(version)
        return book if self._serves(self._snapshot, version, customer_ids, sirens) else None

    def _of_today(self, book: HeldBook | None) -> HeldBook | None:
        """The book, after starting (once) the look-up of its accounts' subjects for a new
        day: a worker that runs past midnight without a write to re-read the book."""
        if book is None or self.today is None:
            return book
        day = day_number(self.today())
        if book.prepared.remembered_day != day:
            with self._loader_lock:
                if book.prepared.remembered_day != day and not self._remembering.is_alive():
                    book.prepared.remembered_day = day  # started: no other request starts it
                    self._remembering = threading.Thread(
                        target=book.prepared.remember_subjects, args=(day,),
                        name="day-subjects", daemon=True,
                    )  # fmt: skip
                    self._remembering.start()
        return book

    def _serves(
        self,
        snapshot: LedgerSnapshot | None,
        version: int,
        customer_ids: Sequence[str],
        sirens: Sequence[str],
    ) -> bool:
        """Whether no write after the snapshot's version, up to `version`, touched these
        customers (or their companies) and companies (or their first accounts), as the book
        resolves them."""
        if snapshot is None or snapshot.book is None:
            return False
        if snapshot.version == version:
            return True
        touched = self._touched_since(snapshot.version, version)
        if touched.everything:
            return False
        directory = snapshot.book.directory
        for customer_id in customer_ids:
            if customer_id in touched.customers:
                return False
            own = directory.customers.get(customer_id)
            if own is not None and own[0] in touched.sirens:
                return False
        for siren in sirens:
            if siren in touched.sirens or directory.account_of.get(siren) in touched.customers:
                return False
        return True

    def _touched_since(self, since: int, version: int) -> Touched:
        """What the writes after version `since` touched, up to `version` at least: read from
        the store once per new version, and added up."""
        with self._touches_lock:
            start, upto, touched = self._touches
            if start != since:
                start, upto, touched = since, since, Touched()
            if upto < version:
                touched = touched | self.store.touched(upto, version)
                upto = version
            self._touches = (start, upto, touched)
            return touched

    def load_in_background(self, once: Callable[[], bool] | None = None) -> None:
        """Start reading the book in a thread of its own, unless one already is; `once`
        given, the thread waits until it holds (for a minute at most) before reading."""
        if self.max_rows <= 0 or self._stopped.is_set():
            return
        with self._loader_lock:
            if self._loader is not None and self._loader.is_alive():
                return
            self._loader = threading.Thread(
                target=self._load_quietly, args=(once,), name="whole-ledger", daemon=True
            )
            self._loader.start()

    def stop(self) -> None:
        """Start no background read from now on (one under way ends as it would): the service
        stops, and its database with it."""
        self._stopped.set()

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Wait for the background read, and the look-up of a new day's subjects, if under
        way (for tests and benchmarks)."""
        for thread in (self._loader, self._remembering):
            if thread is not None and thread.is_alive():
                thread.join(timeout)

    def _load_quietly(self, once: Callable[[], bool] | None) -> None:
        waited = 0.0
        while once is not None and not once() and waited < _WAIT_SECONDS:
            if self._stopped.wait(_POLL_SECONDS):
                return
            waited += _POLL_SECONDS
        if self._stopped.wait(max(self._next_read_at - time.monotonic(), 0.0)):
            return
        try:
            self._load(self.store.version())
        except Exception as error:  # requests still read the database: a slower path, not an outage
            log.warning("the ledger was not loaded into memory: %s", error)

    def _load(self, version: int) -> HeldBook | None:
        with self._lock:  # the other readers wait for this one's snapshot
            snapshot = self._snapshot
            if snapshot is None or snapshot.version != version:
                started = time.monotonic()
                # The read makes rows by the hundred thousand on the way to its arrays: the
                # collector's full passes over them took a third of its time, and each held
                # every request of the worker for a fifth of a second.
                with cyclic_collection_paused():
                    snapshot = self._read(version)
                ended = time.monotonic()
                self.read_seconds = ended - started
                self._next_read_at = ended + self.read_spacing * self.read_seconds
                self._snapshot = snapshot
        return snapshot.book

    def _read(self, version: int) -> LedgerSnapshot:
        """The book as of `version`; none when it is too large (remembered as well)."""
        if self.store.count("invoice") + self.store.count("payment") > self.max_rows:
            return LedgerSnapshot(version, None)
        tables = {
            name: self.store.read(name, columns=_BOOK_COLUMNS.get(name)) for name in _BOOK_TABLES
        }
        customers = tables["customer"].sort_values("customer_id", ignore_index=True)
        book = HeldBook(
            PreparedLedger(Ledger.from_tables(tables)), Directory.of(customers, tables["company"])
        )
        del tables, customers  # only the prepared arrays stay
        if self.today is not None:  # the day's scores of accounts then skip their look-ups
            book.prepared.remember_subjects(day_number(self.today()))
        gc.collect()
        give_back_freed_memory()
        # What a worker holds from now on is long-lived: keep it out of the collector's full
        # passes, which otherwise pause every request every few thousand.
        gc.freeze()
        # Writes that landed during the read may show in some tables and not in others: the
        # book keeps the version read before, so the subjects they touched are not served
        # from it (`_serves`), and every other subject's rows are whole.
        return LedgerSnapshot(version, book)


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
    day = day_number(as_of)
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
