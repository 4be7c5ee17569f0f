"""Reads of the ledger scoped to what one request names, and a customer's history summary.

A score needs only its subjects' rows: the customers' invoices and payments, the companies'
registry rows, accounts and legal events, selected by id and SIREN with indexed look-ups, so
a request costs the same whatever the size of the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.ledger import LedgerStore
from features.ledger_tables import ledger_tables
from features.point_in_time import LATE_DAYS, NEVER, Ledger, day_numbers, settlement_days

__all__ = ["HistorySummary", "customers_of", "history_summary", "ledger_for", "read_by"]

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
    customer_ids = customers["customer_id"].astype(str).tolist()
    company_sirens = list(dict.fromkeys([*sirens, *customers["siren"].dropna().astype(str)]))
    return Ledger(
        invoices=read_by(store, "invoice", "customer_id", customer_ids),
        payments=_payments_of(store, customer_ids),
        customers=customers,
        companies=read_by(store, "company", "siren", company_sirens),
        statements=read_by(store, "financial_statement", "siren", company_sirens),
        legal_events=read_by(store, "legal_event", "siren", company_sirens),
    )


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
