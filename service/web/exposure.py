"""What each customer owes today: open and overdue amounts and the aged balance.

An invoice is open while the payments received by today do not cover its amount (a cent of
tolerance, as `features.point_in_time.settlement_days`); its open amount is what remains. Aged
buckets count days past the due date. The whole ledger is read in two narrow queries and
aggregated with pandas; the result is kept per day and per ledger size, so that only the first
view of a day (or after new invoices or payments) pays for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.ledger import LedgerStore
from features.ledger_tables import ledger_tables

__all__ = ["BUCKETS", "Exposure", "ExposureCache", "customer_exposure"]

BUCKETS = ("not_due", "1_30", "31_60", "61_90", "over_90")
_EDGES = (0, 30, 60, 90)  # days past due closing each bucket but the last
_TOLERANCE = 0.01


@dataclass(frozen=True)
class Exposure:
    """Per customer (index customer_id): open_amount, overdue_amount, oldest_overdue_days, and
    one column per aged bucket; plus the portfolio's aged balance."""

    as_of: date
    by_customer: pd.DataFrame
    aged: dict[str, float]


def _open_invoices(store: LedgerStore, as_of: date) -> pd.DataFrame:
    invoice, payment = ledger_tables["invoice"], ledger_tables["payment"]
    paid = (
        sa.select(payment.c.invoice_id, sa.func.sum(payment.c.amount).label("paid"))
        .where(payment.c.paid_date <= as_of)
        .group_by(payment.c.invoice_id)
    )
    # Dates as text: both SQLite and PostgreSQL give ISO strings, parsed at once by pandas.
    invoices = sa.select(
        invoice.c.invoice_id,
        invoice.c.customer_id,
        sa.cast(invoice.c.due_date, sa.String).label("due_date"),
        invoice.c.amount,
    ).where(invoice.c.issue_date <= as_of)
    with store.connect() as connection:
        paid_rows = connection.execute(paid).all()
        invoice_rows = connection.execute(invoices).all()
    frame = pd.DataFrame(invoice_rows, columns=["invoice_id", "customer_id", "due_date", "amount"])
    paid_by = pd.Series(
        [row.paid for row in paid_rows], index=[row.invoice_id for row in paid_rows], dtype=float
    )
    frame["open_amount"] = frame["amount"].astype(float) - frame["invoice_id"].map(paid_by).fillna(
        0.0
    )
    frame = frame[frame["open_amount"] > _TOLERANCE].reset_index(drop=True)
    due = pd.to_datetime(frame["due_date"].str.slice(0, 10))
    frame["days_past_due"] = (pd.Timestamp(as_of) - due).dt.days.astype(int)
    return frame


def customer_exposure(store: LedgerStore, as_of: date) -> Exposure:
    """Open, overdue and aged amounts of every customer as of a day."""
    frame = _open_invoices(store, as_of)
    bucket = np.digitize(frame["days_past_due"].to_numpy(), _EDGES, right=True)
    frame["bucket"] = pd.Categorical.from_codes(bucket, categories=list(BUCKETS))
    aged = frame.pivot_table(
        index="customer_id", columns="bucket", values="open_amount", aggfunc="sum",
        fill_value=0.0, observed=False,
    )  # fmt: skip
    overdue = frame[frame["days_past_due"] > 0]
    by_customer = pd.DataFrame(
        {
            "open_amount": frame.groupby("customer_id")["open_amount"].sum(),
            "overdue_amount": overdue.groupby("customer_id")["open_amount"].sum(),
            "oldest_overdue_days": overdue.groupby("customer_id")["days_past_due"].max(),
        }
    ).join(aged.reindex(columns=list(BUCKETS), fill_value=0.0))
    by_customer = by_customer.fillna(0.0)
    by_customer.columns = [str(c) for c in by_customer.columns]
    totals = {
        name: float(frame.loc[frame["bucket"] == name, "open_amount"].sum()) for name in BUCKETS
    }
    return Exposure(as_of, by_customer, totals)


class ExposureCache:
    """The exposure of a day, recomputed when the day or the number of invoices or payments
    changes (ingestion only appends)."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._key: tuple[date, int, int] | None = None
        self._value: Exposure | None = None
        self._lock = threading.Lock()

    def get(self, as_of: date) -> Exposure:
        key = (as_of, self.store.count("invoice"), self.store.count("payment"))
        with self._lock:
            if self._key != key or self._value is None:
                self._value = customer_exposure(self.store, as_of)
                self._key = key
            return self._value
