"""The portfolio page: customers by grade with exposure and overdue, aged balance, alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from features.ledger import LedgerStore
from features.ledger_tables import ledger_tables
from service.web.exposure import BUCKETS, Exposure
from service.web.portfolio_scoring import GRADE_ORDER, PortfolioRun

__all__ = [
    "MAX_ALERTS",
    "RECENT_EVENT_DAYS",
    "SHOWN_ALERTS",
    "Alert",
    "GradeRow",
    "PortfolioView",
    "over_limit_alerts",
    "portfolio_view",
]

RECENT_EVENT_DAYS = 90
SHOWN_ALERTS = 10  # then under a disclosure, up to MAX_ALERTS
MAX_ALERTS = 100
TOP_EXPOSURES = 10


@dataclass(frozen=True)
class GradeRow:
    grade: str
    customers: int
    exposure: float
    overdue: float


@dataclass(frozen=True)
class Alert:
    kind: str  # worsened, event, over_limit
    customer_id: str
    name: str
    grade: str
    before: str = ""  # worsened: the previous grade
    event_kind: str = ""
    event_date: date | None = None
    open_amount: float = 0.0
    credit_limit: float = 0.0


@dataclass(frozen=True)
class Bar:
    bucket: str
    amount: float
    share: float  # of the largest bucket, for drawing


@dataclass(frozen=True)
class PortfolioView:
    run: PortfolioRun
    grades: list[GradeRow]
    total: GradeRow
    aged: list[Bar]
    worsened: list[Alert]
    events: list[Alert]
    over_limit: list[Alert]
    largest: list[tuple[str, str, str, float, float]]  # id, name, grade, open, overdue


def _grades(book: pd.DataFrame) -> list[GradeRow]:
    rows = []
    for grade in GRADE_ORDER:
        part = book[book["grade"] == grade]
        rows.append(GradeRow(grade, len(part), float(part["open_amount"].sum()),
                             float(part["overdue_amount"].sum())))  # fmt: skip
    return rows


def _name(row: pd.Series, customer_id: str) -> str:
    name = row.get("name")
    return str(name) if isinstance(name, str) and name else customer_id


def _worsened(book: pd.DataFrame, previous: PortfolioRun | None) -> list[Alert]:
    if previous is None:
        return []
    before = previous.decisions["grade"].reindex(book.index)
    now_rank = book["grade"].map(GRADE_ORDER)
    before_rank = before.map(GRADE_ORDER)
    worse = book[(before_rank.notna()) & (now_rank > before_rank)]
    worse = worse.assign(jump=now_rank - before_rank).sort_values(["jump", "open_amount"],
                                                                  ascending=False)  # fmt: skip
    return [
        Alert(
            "worsened",
            str(cid),
            _name(row, str(cid)),
            str(row["grade"]),
            str(before[cid]),
            open_amount=float(row["open_amount"]),
        )
        for cid, row in worse.iterrows()
    ]


def _events(store: LedgerStore, book: pd.DataFrame, today: date) -> list[Alert]:
    event = ledger_tables["legal_event"]
    since = today - timedelta(days=RECENT_EVENT_DAYS)
    sirens = book["siren"].dropna()
    with store.connect() as connection:
        rows = connection.execute(
            sa.select(event.c.siren, event.c.event_date, event.c.kind)
            .where(event.c.event_date > since, event.c.event_date <= today)
            .order_by(event.c.event_date.desc())
        ).all()
    by_siren: dict[str, list[str]] = {}
    for cid, siren in sirens.items():
        by_siren.setdefault(str(siren), []).append(str(cid))
    alerts = []
    for row in rows:
        for cid in by_siren.get(str(row.siren), []):
            line = book.loc[cid]
            alerts.append(Alert("event", cid, _name(line, cid), str(line["grade"]),
                                event_kind=str(row.kind), event_date=row.event_date,
                                open_amount=float(line["open_amount"])))  # fmt: skip
    return alerts


def over_limit_alerts(book: pd.DataFrame) -> list[Alert]:
    """Customers on a credit line (limit above 0) whose open amount exceeds it. A limit of 0
    means prepayment for new orders: their open invoices are followed by the dunning plan, not
    alerted here (otherwise every D and E customer would be an alert)."""
    limit = pd.to_numeric(book["credit_limit"], errors="coerce")
    over = book[(limit > 0) & (book["open_amount"] > limit + 0.005)]
    over = over.assign(excess=over["open_amount"] - limit[over.index]).sort_values(
        "excess", ascending=False
    )
    return [
        Alert(
            "over_limit",
            str(cid),
            _name(row, str(cid)),
            str(row["grade"]),
            open_amount=float(row["open_amount"]),
            credit_limit=float(row["credit_limit"]),
        )
        for cid, row in over.iterrows()
    ]


def portfolio_view(
    store: LedgerStore, latest: PortfolioRun, previous: PortfolioRun | None, exposure: Exposure,
    today: date,
) -> PortfolioView:  # fmt: skip
    book = latest.decisions.join(exposure.by_customer[["open_amount", "overdue_amount"]])
    book[["open_amount", "overdue_amount"]] = book[["open_amount", "overdue_amount"]].fillna(0.0)
    grades = _grades(book)
    total = GradeRow("", sum(g.customers for g in grades), sum(g.exposure for g in grades),
                     sum(g.overdue for g in grades))  # fmt: skip
    largest_amount = max(exposure.aged.values(), default=0.0) or 1.0
    aged = [Bar(b, exposure.aged.get(b, 0.0), exposure.aged.get(b, 0.0) / largest_amount)
            for b in BUCKETS]  # fmt: skip
    top = book.sort_values("open_amount", ascending=False).head(TOP_EXPOSURES)
    largest = [
        (
            str(cid),
            _name(row, str(cid)),
            str(row["grade"]),
            float(row["open_amount"]),
            float(row["overdue_amount"]),
        )
        for cid, row in top.iterrows()
    ]
    return PortfolioView(
        latest, grades, total, aged, _worsened(book, previous), _events(store, book, today),
        over_limit_alerts(book), largest,
    )  # fmt: skip
