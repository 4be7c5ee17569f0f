"""The customer card: invoices and payments with days late, the grade over time, and where
each open invoice stands in the customer's recommended dunning plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from features.point_in_time import NEVER, day_numbers, settlement_days
from service.api import ServiceState
from service.audit import DecisionFilter, DecisionSummary
from service.portfolio import ledger_for, read_by
from service.profiles import customer_profile
from service.schemas import CustomerResponse, DecisionOut
from service.web.dunning import PlanStep, StepStanding, plan_steps, standing

__all__ = ["CustomerView", "GradePoint", "InvoiceLine", "customer_view"]

SHOWN_INVOICES = 40
SHOWN_DECISIONS = 200
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class InvoiceLine:
    invoice_id: str
    issue_date: date
    due_date: date
    amount: float
    paid_date: date | None
    days_late: int  # settled: paid − due; open: today − due (may be negative)
    open_amount: float
    disputed: bool
    payments: tuple[tuple[date, float], ...] = ()  # each payment applied: day and amount
    standing: StepStanding | None = None


@dataclass(frozen=True)
class GradePoint:
    decided_at: datetime
    grade: str
    p_late: float
    channel: str


@dataclass(frozen=True)
class CustomerView:
    profile: CustomerResponse
    invoices: list[InvoiceLine]  # the latest first
    open_invoices: list[InvoiceLine]  # the oldest due first
    grades: list[GradePoint]  # oldest first
    plan: list[PlanStep]
    latest: DecisionOut | None


def _day(number: int) -> date:
    return _EPOCH + timedelta(days=int(number))


def _lines(state: ServiceState, customer_id: str, today: date) -> list[InvoiceLine]:
    customers = read_by(state.store, "customer", "customer_id", [customer_id])
    ledger = ledger_for(state.store, customers, [])
    invoices = ledger.invoices[ledger.invoices["issue_date"] <= pd.Timestamp(today)]
    invoices = invoices.sort_values("issue_date", ascending=False).reset_index(drop=True)
    payments = ledger.payments[ledger.payments["paid_date"] <= pd.Timestamp(today)]
    settled = settlement_days(invoices, payments)
    paid = payments.groupby("invoice_id")["amount"].sum()
    applied: dict[str, list[tuple[date, float]]] = {}
    for invoice_id, day, amount in payments.sort_values("paid_date")[
        ["invoice_id", "paid_date", "amount"]
    ].itertuples(index=False):
        applied.setdefault(str(invoice_id), []).append((pd.Timestamp(day).date(), float(amount)))
    due = day_numbers(invoices["due_date"])
    now = int(day_numbers(pd.Series([pd.Timestamp(today)]))[0])
    open_amount = np.maximum(
        invoices["amount"].to_numpy(dtype=float)
        - invoices["invoice_id"].map(paid).fillna(0.0).to_numpy(dtype=float),
        0.0,
    )
    lines = []
    for i, row in enumerate(invoices.itertuples(index=False)):
        is_open = settled[i] == NEVER
        lines.append(
            InvoiceLine(
                invoice_id=str(row.invoice_id),
                issue_date=pd.Timestamp(row.issue_date).date(),
                due_date=pd.Timestamp(row.due_date).date(),
                amount=float(row.amount),
                paid_date=None if is_open else _day(settled[i]),
                days_late=int((now if is_open else settled[i]) - due[i]),
                open_amount=float(open_amount[i]) if is_open else 0.0,
                disputed=bool(row.disputed) if not pd.isna(row.disputed) else False,
                payments=tuple(applied.get(str(row.invoice_id), ())),
            )
        )
    return lines


def customer_view(state: ServiceState, customer_id: str) -> CustomerView:
    """The card's content; UnknownCustomer when the ledger has no such account."""
    today = state.today()
    profile = customer_profile(state.store, customer_id, today)
    decisions = state.audit.summaries(
        DecisionFilter(customer_id=customer_id, limit=SHOWN_DECISIONS)
    )
    latest = _latest_terms(state, decisions)
    plan = plan_steps(latest.response.get("terms") if latest is not None else None)
    lines = _lines(state, customer_id, today)
    open_lines = sorted(
        (
            InvoiceLine(**{**line.__dict__, "standing": standing(plan, line.days_late)})
            for line in lines
            if line.paid_date is None
        ),
        key=lambda line: line.due_date,
    )
    grades = [GradePoint(d.decided_at, d.grade, d.p_late, d.channel) for d in reversed(decisions)]
    return CustomerView(profile, lines[:SHOWN_INVOICES], open_lines, grades, plan, latest)


def _latest_terms(state: ServiceState, decisions: list[DecisionSummary]) -> DecisionOut | None:
    """The newest of these decisions that recommended terms, read whole (the only one whose
    answer the card shows)."""
    for summary in decisions:
        if summary.with_terms:
            found = state.audit.get(summary.decision_id)
            if found is not None and found.response.get("terms"):
                return found
    return None


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    grade: str
    label: str


def grade_chart(points: list[GradePoint], width: int = 600, height: int = 160) -> list[ChartPoint]:
    """Points of P(late) over time in an SVG box (y grows downward: riskier is lower)."""
    if not points:
        return []
    times = [p.decided_at.timestamp() for p in points]
    first, last = min(times), max(times)
    span = (last - first) or 1.0
    pad = 24
    return [
        ChartPoint(
            x=round(pad + (t - first) / span * (width - 2 * pad), 1)
            if len(points) > 1
            else width / 2,
            y=round(pad / 2 + p.p_late * (height - pad), 1),
            grade=p.grade,
            label=p.decided_at.strftime("%Y-%m-%d %H:%M"),
        )
        for t, p in zip(times, points, strict=True)
    ]
